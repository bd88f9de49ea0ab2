package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

func TestKustomizationHealthCheckIsWokenByTheRollout(t *testing.T) {
	ns := "health-wake"
	namespace(t, ns)
	gitSource(t, "health-wake", artifacts.publish(t, "health-wake", "main@sha1:0001", map[string]string{
		"deploy.yaml": deploymentYAML("frontend", ns, 2, "nginx:1"),
		"svc.yaml":    serviceYAML("frontend", ns),
	}))
	ks := kustomization(t, "health-wake", "health-wake", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.Timeout = &meta.Duration{Duration: 10 * time.Minute}
		k.Spec.HealthChecks = []meta.NamespacedObjectKindReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "frontend", Namespace: ns}}
	})
	got := waitKS(t, ks, func(k *kustomizev1.Kustomization) error {
		if c := condition(k, meta.HealthyCondition); c == nil || c.Status != metav1.ConditionUnknown {
			return fmt.Errorf("healthy = %+v", c)
		}
		return nil
	})
	if c := ready(got); c.Status != metav1.ConditionUnknown || c.Reason != meta.ProgressingReason {
		t.Errorf("ready while waiting = %+v", c)
	}
	if c := condition(got, meta.ReconcilingCondition); c == nil || !strings.Contains(c.Message, "Running health checks for revision main@sha1:0001 with a timeout of 10m0s") {
		t.Errorf("reconciling while waiting = %+v", c)
	}
	if got.Status.LastAppliedRevision != "" {
		t.Errorf("revision recorded as applied before it is healthy: %q", got.Status.LastAppliedRevision)
	}

	// The deadline is ten minutes away and nothing polls: only the watch can wake it.
	start := time.Now()
	rollOut(t, ns, "frontend")
	got = waitKS(t, ks, appliedRevision("main@sha1:0001"))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("readiness noticed after %s", d)
	}
	if c := condition(got, meta.HealthyCondition); c == nil || c.Status != metav1.ConditionTrue || c.Reason != meta.SucceededReason {
		t.Errorf("healthy = %+v", c)
	}
	if condition(got, meta.ReconcilingCondition) != nil {
		t.Errorf("still reconciling: %+v", got.Status.Conditions)
	}
}

func TestKustomizationHealthCheckTimesOut(t *testing.T) {
	ns := "health-timeout"
	namespace(t, ns)
	gitSource(t, "health-timeout", artifacts.publish(t, "health-timeout", "main@sha1:0001", map[string]string{
		"deploy.yaml": deploymentYAML("backend", ns, 1, "nginx:1"),
		"cm.yaml":     configMap("backend", ns, "1"),
	}))
	ks := kustomization(t, "health-timeout", "health-timeout", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.Wait = true
		k.Spec.Timeout = &meta.Duration{Duration: 2 * time.Second}
		k.Spec.RetryInterval = &meta.Duration{Duration: time.Second}
	})
	got := waitKS(t, ks, notReady(meta.HealthCheckFailedReason, "timeout waiting for: [Deployment/"+ns+"/backend status: 'InProgress'"))
	if strings.Contains(ready(got).Message, "ConfigMap") {
		t.Errorf("a ready object was reported: %s", ready(got).Message)
	}
	if c := condition(got, meta.HealthyCondition); c == nil || c.Status != metav1.ConditionFalse || c.Reason != meta.HealthCheckFailedReason {
		t.Errorf("healthy = %+v", c)
	}
	if got.Status.LastAppliedRevision != "" || got.Status.LastAttemptedRevision != "main@sha1:0001" {
		t.Errorf("lastApplied %q lastAttempted %q", got.Status.LastAppliedRevision, got.Status.LastAttemptedRevision)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		return warningWith(t, ks, meta.HealthCheckFailedReason, "Deployment/"+ns+"/backend")
	})

	// Retried at spec.retryInterval: once the rollout completes, it is Ready.
	rollOut(t, ns, "backend")
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
}

func TestKustomizationHealthCheckExprs(t *testing.T) {
	ns := "health-cel"
	namespace(t, ns)
	// A ConfigMap that another tool creates stands in for a custom kind: its data says whether
	// it is ready. The Kustomization applies a ConfigMap of its own too, so that the tracker
	// watches ConfigMaps (its own only): the gate must still be read from the API server.
	// (A Secret's data would not do: CEL health expressions never see it.)
	gitSource(t, "health-cel", artifacts.publish(t, "health-cel", "main@sha1:0001", map[string]string{"cm.yaml": configMap("own", ns, "v")}))
	ks := kustomization(t, "health-cel", "health-cel", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.Interval = meta.Duration{Duration: time.Second}
		k.Spec.HealthChecks = []meta.NamespacedObjectKindReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "gate", Namespace: ns}}
		k.Spec.HealthCheckExprs = []kustomize.CustomHealthCheck{{APIVersion: "v1", Kind: "ConfigMap", HealthCheckExpressions: kustomize.HealthCheckExpressions{
			Current: "data.value == 'ready'", Failed: "data.value == 'broken'",
		}}}
	})
	waitKS(t, ks, func(k *kustomizev1.Kustomization) error {
		if c := condition(k, meta.HealthyCondition); c == nil || c.Status != metav1.ConditionUnknown {
			return fmt.Errorf("healthy = %+v", c)
		}
		return nil
	})
	gate := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gate", Namespace: ns}, Data: map[string]string{"value": "broken"}}
	if err := env.Client.Create(testenv.Context(t), gate); err != nil {
		t.Fatal(err)
	}
	waitKS(t, ks, notReady(meta.HealthCheckFailedReason, "failed: [ConfigMap/"+ns+"/gate status: 'Failed'"))
	mergePatch(t, gate, `{"data":{"value":"ready"}}`)
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
}

func TestKustomizationDependsOn(t *testing.T) {
	ns := "depends"
	namespace(t, ns)
	gitSource(t, "depends", artifacts.publish(t, "depends", "main@sha1:0001", map[string]string{
		"platform/deploy.yaml": deploymentYAML("ingress", ns, 1, "nginx:1"),
		"apps/cm.yaml":         configMap("app", ns, "1"),
	}))
	platform := kustomization(t, "platform", "depends", "./platform", func(k *kustomizev1.Kustomization) { k.Spec.Wait = true })
	apps := kustomization(t, "apps", "depends", "./apps", func(k *kustomizev1.Kustomization) {
		k.Spec.DependsOn = []meta.DependencyReference{{Name: "platform"}}
	})
	waitKS(t, apps, notReady(meta.DependencyNotReadyReason, "dependency 'default/platform' is not ready"))
	if exists(t, ns, "app", &corev1.ConfigMap{}) {
		t.Fatal("applied before its dependency was ready")
	}

	rollOut(t, ns, "ingress")
	waitKS(t, platform, appliedRevision("main@sha1:0001"))
	waitKS(t, apps, appliedRevision("main@sha1:0001"))
	if !exists(t, ns, "app", &corev1.ConfigMap{}) {
		t.Fatal("not applied after its dependency became ready")
	}
}

func TestKustomizationDependsOnReadyExpr(t *testing.T) {
	ns := "depends-cel"
	namespace(t, ns)
	gitSource(t, "depends-cel", artifacts.publish(t, "depends-cel", "main@sha1:0001", map[string]string{"a/cm.yaml": configMap("a", ns, "1"), "b/cm.yaml": configMap("b", ns, "1")}))
	kustomization(t, "cel-dep", "depends-cel", "./a", func(k *kustomizev1.Kustomization) { k.Spec.Suspend = true })
	b := kustomization(t, "cel-b", "depends-cel", "./b", func(k *kustomizev1.Kustomization) {
		k.Spec.DependsOn = []meta.DependencyReference{{Name: "cel-dep", ReadyExpr: "dep.spec.suspend == self.spec.prune"}}
	})
	waitKS(t, b, appliedRevision("main@sha1:0001"))

	bad := kustomization(t, "cel-bad", "depends-cel", "./b", func(k *kustomizev1.Kustomization) {
		k.Spec.DependsOn = []meta.DependencyReference{{Name: "cel-dep", ReadyExpr: "dep.status.(("}}
	})
	got := waitKS(t, bad, notReady(meta.InvalidCELExpressionReason, "invalid CEL expression"))
	if c := condition(got, meta.StalledCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("stalled = %+v", c)
	}
}

// warningWith fails unless a Warning event of the Kustomization has reason and text.
func warningWith(t *testing.T, ks *kustomizev1.Kustomization, reason, text string) error {
	t.Helper()
	list := &corev1.EventList{}
	if err := env.Client.List(testenv.Context(t), list); err != nil {
		return err
	}
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == ks.Name && ev.InvolvedObject.Namespace == ks.Namespace && ev.Type == corev1.EventTypeWarning &&
			ev.Reason == reason && strings.Contains(ev.Message, text) {
			return nil
		}
	}
	return fmt.Errorf("no warning %s with %q", reason, text)
}

// healthExprs picks the entry for the object's kind, else one for every kind of its
// apiVersion (or group), else none.
func TestHealthExprsMatching(t *testing.T) {
	obj := &kustomizev1.Kustomization{}
	obj.Spec.HealthCheckExprs = []kustomize.CustomHealthCheck{
		{APIVersion: "cert-manager.io/v1", HealthCheckExpressions: kustomize.HealthCheckExpressions{Current: "any"}},
		{APIVersion: "cert-manager.io/v1", Kind: "Certificate", HealthCheckExpressions: kustomize.HealthCheckExpressions{Current: "certificate"}},
		{APIVersion: "example.com", Kind: "Widget", HealthCheckExpressions: kustomize.HealthCheckExpressions{Current: "widget"}},
	}
	for _, tt := range []struct {
		gvk  schema.GroupVersionKind
		want string
	}{
		{schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}, "certificate"},
		{schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"}, "any"},
		{schema.GroupVersionKind{Group: "cert-manager.io", Version: "v2", Kind: "Issuer"}, ""},
		{schema.GroupVersionKind{Group: "example.com", Version: "v1beta1", Kind: "Widget"}, "widget"},
		{schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Gadget"}, ""},
	} {
		got := ""
		if e := healthExprs(obj, tt.gvk); e != nil {
			got = e.Current
		}
		if got != tt.want {
			t.Errorf("%s: entry %q, want %q", tt.gvk, got, tt.want)
		}
	}
}
