package controller

import (
	"context"
	"errors"
	"testing"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// Everything read on a tenant's behalf is read as the tenant's account: a Kustomization may
// not learn, through its Ready condition, what its account may not read. The account here may
// manage ConfigMaps in its own namespace, nothing more.
func TestKustomizationReadsAsItsAccount(t *testing.T) {
	tenant, other := "tenant-a", "tenant-b"
	namespace(t, tenant)
	namespace(t, other)
	ctx := testenv.Context(t)
	for _, o := range []client.Object{
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "configmaps", Namespace: tenant},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}}},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: tenant},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "configmaps"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "deployer", Namespace: tenant}},
		},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: tenant}},
		// What the account may not read: a Secret in its own namespace, and another tenant's
		// workload and Kustomization.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: tenant}, StringData: map[string]string{"password": "hunter2"}},
		&kustomizev1.Kustomization{
			ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: other},
			Spec: kustomizev1.KustomizationSpec{Interval: meta.Duration{Duration: 3600e9}, Prune: true,
				SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "nowhere"}},
		},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	one := int32(1)
	theirs := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: other},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "theirs"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "theirs"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/theirs:1.0.0"}}},
			},
		},
	}
	if err := env.Client.Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	rollOut(t, other, "theirs")

	gitSource(t, "tenant", artifacts.publish(t, "tenant", "main@sha1:0001", map[string]string{
		"cm/cm.yaml":   configMap("cm", tenant, "1"),
		"sub/sub.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sub\n  namespace: " + tenant + "\ndata:\n  password: ${password}\n",
	}))
	asTenant := func(k *kustomizev1.Kustomization) {
		k.Namespace = tenant
		k.Spec.SourceRef.Namespace = "default"
		k.Spec.ServiceAccountName = "deployer"
	}

	// The account can apply its ConfigMap: the control case.
	ok := kustomization(t, "plain", "tenant", "./cm", asTenant)
	waitKS(t, ok, appliedRevision("main@sha1:0001"))

	// A health check of another tenant's Deployment: not Current because the controller could
	// read it, but failed because the account may not.
	health := kustomization(t, "health", "tenant", "./cm", asTenant, func(k *kustomizev1.Kustomization) {
		k.Spec.HealthChecks = []meta.NamespacedObjectKindReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "theirs", Namespace: other}}
	})
	waitKS(t, health, notReady(meta.HealthCheckFailedReason, "Deployment/tenant-b/theirs status: 'Failed'"))
	waitKS(t, health, notReady(meta.HealthCheckFailedReason, "forbidden"))

	// A dependency in another namespace it may not read.
	dep := kustomization(t, "dep", "tenant", "./cm", asTenant, func(k *kustomizev1.Kustomization) {
		k.Spec.DependsOn = []meta.DependencyReference{{Name: "theirs", Namespace: other}}
	})
	waitKS(t, dep, notReady(meta.AccessDeniedReason, "reading dependency 'tenant-b/theirs'"))

	// Variables from a Secret it may not read: the value never reaches a ConfigMap.
	sub := kustomization(t, "sub", "tenant", "./sub", asTenant, func(k *kustomizev1.Kustomization) {
		k.Spec.PostBuild = &kustomizev1.PostBuild{SubstituteFrom: []kustomizev1.SubstituteReference{{Kind: "Secret", Name: "db"}}}
	})
	waitKS(t, sub, notReady(meta.BuildFailedReason, "forbidden"))
	if exists(t, tenant, "sub", &corev1.ConfigMap{}) {
		t.Fatal("a Secret the account may not read was substituted into a ConfigMap")
	}
}

// With --no-cross-namespace-refs, a health check in another namespace is refused as a
// cross-namespace source is.
func TestCrossNamespaceHealthCheckIsRefused(t *testing.T) {
	r := &KustomizationReconciler{NoCrossNamespaceRefs: true}
	obj := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: "team-a"},
		Spec: kustomizev1.KustomizationSpec{HealthChecks: []meta.NamespacedObjectKindReference{
			{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Namespace: "team-a"},
			{APIVersion: "apps/v1", Kind: "Deployment", Name: "api", Namespace: "team-b"},
		}},
	}
	err := r.reconcileHealth(context.Background(), &kustomizationScope{Scope: &lifecycle.Scope[*kustomizev1.Kustomization]{Object: obj}, artifact: &meta.Artifact{}})
	var e *lifecycle.Error
	if !errors.As(err, &e) || e.Outcome != lifecycle.Stall || e.Reason != meta.AccessDeniedReason {
		t.Fatalf("err = %v, want a stall with AccessDenied", err)
	}
}

// CEL health expressions see a ConfigMap's data, but never a Secret's: a health check cannot
// be turned into a way to guess a Secret, one Ready condition at a time.
func TestHealthExprsNeverSeeSecretData(t *testing.T) {
	check := &kustomize.CustomHealthCheck{HealthCheckExpressions: kustomize.HealthCheckExpressions{
		Current: "data.password == 'aHVudGVyMg=='",
	}}
	for _, tt := range []struct {
		kind string
		want status.Status
	}{{"ConfigMap", status.CurrentStatus}, {"Secret", status.InProgressStatus}} {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": tt.kind, "metadata": map[string]any{"name": "db"},
			"data": map[string]any{"password": "aHVudGVyMg=="},
		}}
		got, err := evalHealthExprs(check, u)
		if err != nil || got != tt.want {
			t.Errorf("%s: status %s (%v), want %s", tt.kind, got, err, tt.want)
		}
	}
}

// A health expression that would run for minutes stops at the cost limit, and says so
// (reconcileHealth then stalls the Kustomization: the expression must change).
func TestHealthExprsAreBoundedByCost(t *testing.T) {
	items := make([]any, 100)
	for i := range items {
		items[i] = int64(i)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"},
		"spec": map[string]any{"items": items},
	}}
	check := &kustomize.CustomHealthCheck{APIVersion: "example.com/v1", Kind: "Widget", HealthCheckExpressions: kustomize.HealthCheckExpressions{
		Current: "spec.items.all(a, spec.items.all(b, spec.items.all(c, spec.items.all(d, a+b+c+d >= 0))))",
	}}
	if _, err := evalHealthExprs(check, u); !errors.Is(err, cel.ErrCostLimit) {
		t.Fatalf("err = %v, want %v", err, cel.ErrCostLimit)
	}
}
