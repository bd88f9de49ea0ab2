package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

func demoRelease(ns string, mutate func(*v2.HelmRelease)) *v2.HelmRelease {
	hr := &v2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
		Spec: v2.HelmReleaseSpec{
			Interval: meta.Duration{Duration: time.Hour},
			Chart: &v2.HelmChartTemplate{Spec: v2.HelmChartTemplateSpec{
				Chart: "demo", SourceRef: v2.CrossNamespaceObjectReference{Kind: sourcev1.HelmRepositoryKind, Name: "charts"},
			}},
		},
	}
	if mutate != nil {
		mutate(hr)
	}
	return hr
}

// testHooksChart has two test hooks, the Pods '<release>-test-ok' and '<release>-test-fail'.
var testHooksChart = map[string]string{
	"templates/tests.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test-ok
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  containers:
  - name: test
    image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test-fail
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  containers:
  - name: test
    image: busybox
`,
}

// deploymentChart adds a Deployment of values.replicas (1 by default) running nginx:1.25.
var deploymentChart = map[string]string{"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas | default 1 }}
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
      - name: web
        image: nginx:1.25
`}

// runTestPods plays the kubelet for the test hooks of namespace ns, which no node runs here:
// a Pod named '*-fail' fails, any other succeeds.
func runTestPods(t *testing.T, ns string) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			pods := &corev1.PodList{}
			if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err == nil {
				for i := range pods.Items {
					p := &pods.Items[i]
					if p.Status.Phase != "" && p.Status.Phase != corev1.PodPending {
						continue
					}
					p.Status.Phase = corev1.PodSucceeded
					if strings.HasSuffix(p.Name, "-fail") {
						p.Status.Phase = corev1.PodFailed
					}
					_ = env.Client.Status().Update(ctx, p)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

// Tests after install: those the filters select pass and the release is Ready TestSucceeded,
// with each hook's run in the history; a failing test fails the install (no retries: Stalled
// RetriesExceeded, the release left installed for inspection), unless failures are ignored.
func TestHelmReleaseTests(t *testing.T) {
	ctx := testenv.Context(t)
	cases := []struct {
		name   string
		test   v2.Test
		check  func(*v2.HelmRelease, *metav1.Condition) error
		phases map[string]string
	}{
		{"filtered", v2.Test{Enable: true, Filters: &[]v2.Filter{{Name: "demo-test-fail", Exclude: true}}},
			func(o *v2.HelmRelease, c *metav1.Condition) error {
				if c.Status != metav1.ConditionTrue || c.Reason != v2.TestSucceededReason {
					return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
				}
				return nil
			}, map[string]string{"demo-test-ok": "Succeeded"}},
		{"failing", v2.Test{Enable: true},
			func(o *v2.HelmRelease, c *metav1.Condition) error {
				if c.Status != metav1.ConditionFalse || c.Reason != v2.RetriesExceededReason || !strings.Contains(c.Message, "Helm test failed") {
					return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
				}
				return nil
			}, map[string]string{"demo-test-fail": "Failed"}}, // Helm stops at the first failing test
		{"ignored", v2.Test{Enable: true, IgnoreFailures: true, Filters: &[]v2.Filter{{Name: "demo-test-fail"}}},
			func(o *v2.HelmRelease, c *metav1.Condition) error {
				if c.Status != metav1.ConditionTrue || c.Reason != v2.InstallSucceededReason {
					return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
				}
				return nil
			}, map[string]string{"demo-test-fail": "Failed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			runTestPods(t, ns)
			hr := demoRelease(ns, func(hr *v2.HelmRelease) { hr.Spec.Test = &tc.test })
			if err := env.Client.Create(ctx, hr); err != nil {
				t.Fatal(err)
			}
			serveChart(t, ns, ns+"-demo", "1.0.0", testHooksChart)
			got := waitRelease(t, client.ObjectKeyFromObject(hr), tc.check)
			h := got.Status.History[0]
			if h.TestHooks == nil || len(*h.TestHooks) != len(tc.phases) {
				t.Fatalf("test hooks: %+v", h.TestHooks)
			}
			for name, phase := range tc.phases {
				if st := (*h.TestHooks)[name]; st == nil || st.Phase != phase || st.LastStarted.IsZero() {
					t.Errorf("test hook %s: %+v, want %s", name, st, phase)
				}
			}
			var success *metav1.Condition
			for i := range got.Status.Conditions {
				if got.Status.Conditions[i].Type == v2.TestSuccessCondition {
					success = &got.Status.Conditions[i]
				}
			}
			want := metav1.ConditionTrue
			if tc.phases["demo-test-fail"] != "" {
				want = metav1.ConditionFalse
			}
			if success == nil || success.Status != want {
				t.Errorf("TestSuccess: %+v, want %s", success, want)
			}
			if tc.name == "failing" && (got.Status.InstallFailures != 1 || h.Status != "deployed") {
				t.Errorf("a failed test with no retries: %d install failures, release %s", got.Status.InstallFailures, h.Status)
			}
		})
	}
}

// widgetCRD is the chart's CRD at a version, labelled with it.
func widgetCRD(version string) map[string]string {
	return map[string]string{
		"crds/widgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
  labels:
    chart-version: "` + version + `"
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`,
		"templates/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  size: 1\n",
	}
}

// The chart's CRDs: created on install (and the custom resource with them, in the inventory);
// left alone on upgrade by default; replaced with upgrade.crds CreateReplace.
func TestHelmReleaseCRDsPolicy(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	hr := demoRelease(ns, nil)
	if err := env.Client.Create(ctx, hr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"}})
	})
	key := client.ObjectKeyFromObject(hr)
	crdLabel := func() string {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "widgets.example.com"}, crd); err != nil {
			t.Fatal(err)
		}
		return crd.Labels["chart-version"]
	}

	serveChart(t, ns, ns+"-demo", "1.0.0", widgetCRD("1.0.0"))
	got := waitRelease(t, key, releasedAt(1, "1.0.0"))
	if l := crdLabel(); l != "1.0.0" {
		t.Errorf("the CRD after install: %q", l)
	}
	widget := &unstructured.Unstructured{}
	widget.SetGroupVersionKind(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo"}, widget); err != nil {
		t.Fatalf("the chart's custom resource: %v", err)
	}
	ids := map[string]bool{}
	for _, e := range got.Status.Inventory.Entries {
		ids[e.ID] = true
	}
	if !ids["_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition"] || !ids[ns+"_demo_example.com_Widget"] {
		t.Errorf("inventory: %+v", got.Status.Inventory.Entries)
	}

	serveChart(t, ns, ns+"-demo", "1.1.0", widgetCRD("1.1.0"))
	got = waitRelease(t, key, releasedAt(2, "1.1.0"))
	if l := crdLabel(); l != "1.0.0" {
		t.Errorf("the CRD after an upgrade with the default policy (Skip): %q", l)
	}

	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Upgrade = &v2.Upgrade{CRDs: v2.CreateReplace}
	if err := env.Client.Patch(ctx, got, patch); err != nil {
		t.Fatal(err)
	}
	serveChart(t, ns, ns+"-demo", "1.2.0", widgetCRD("1.2.0"))
	waitRelease(t, key, releasedAt(3, "1.2.0"))
	if l := crdLabel(); l != "1.2.0" {
		t.Errorf("the CRD after an upgrade with CreateReplace: %q", l)
	}
}

// A kustomize post-renderer patches what the chart renders and overrides its images; a change
// of the post-renderers upgrades the release.
func TestHelmReleasePostRenderers(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	renderer := func(value string) []v2.PostRenderer {
		return []v2.PostRenderer{{Kustomize: &v2.Kustomize{
			Patches: []kustomize.Patch{{
				Target: &kustomize.Selector{Kind: "ConfigMap"},
				Patch:  `[{"op": "add", "path": "/data/patched", "value": "` + value + `"}]`,
			}},
			Images: []kustomize.Image{{Name: "nginx", NewTag: "1.27"}},
		}}}
	}
	hr := demoRelease(ns, func(hr *v2.HelmRelease) {
		hr.Spec.PostRenderers = renderer("one")
		hr.Spec.Install = &v2.Install{DisableWait: true} // no node runs the Deployment's Pods here
		hr.Spec.Upgrade = &v2.Upgrade{DisableWait: true}
	})
	if err := env.Client.Create(ctx, hr); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(hr)
	serveChart(t, ns, ns+"-demo", "1.0.0", deploymentChart)
	got := waitRelease(t, key, releasedAt(1, "1.0.0"))
	if got.Status.ObservedPostRenderersDigest == "" {
		t.Error("no observedPostRenderersDigest")
	}
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Data["patched"] != "one" || cm.Labels["helm.toolkit.fluxcd.io/name"] != "demo" {
		t.Fatalf("the patched ConfigMap: %+v %v %v", cm.Data, cm.Labels, err)
	}
	var image string
	d := &unstructured.Unstructured{}
	d.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo"}, d); err == nil {
		containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		if len(containers) == 1 {
			image, _ = containers[0].(map[string]any)["image"].(string)
		}
	}
	if image != "nginx:1.27" {
		t.Errorf("the Deployment's image: %q", image)
	}

	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.PostRenderers = renderer("two")
	if err := env.Client.Patch(ctx, got, patch); err != nil {
		t.Fatal(err)
	}
	waitRelease(t, key, releasedAt(2, "1.0.0"))
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Data["patched"] != "two" {
		t.Fatalf("after the post-renderer changed: %+v %v", cm.Data, err)
	}
}

// Drift detection: a Deployment scaled by another writer and a deleted ConfigMap are corrected
// from the watch, well before the release's interval of an hour; in warn mode a change is
// reported (Drifted) and left in place; an object opted out is never touched.
func TestHelmReleaseDriftCorrectedFromTheWatch(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	hr := demoRelease(ns, func(hr *v2.HelmRelease) {
		hr.Spec.Install = &v2.Install{DisableWait: true} // no node runs the Deployment's Pods here
		hr.Spec.DriftDetection = &v2.DriftDetection{Mode: "enabled"}
		hr.Spec.Values = &runtime.RawExtension{Raw: []byte(`{"replicas":2}`)}
	})
	if err := env.Client.Create(ctx, hr); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(hr)
	serveChart(t, ns, ns+"-demo", "1.0.0", deploymentChart)
	waitRelease(t, key, releasedAt(1, "1.0.0"))
	waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if d := conditionOf(o, v2.DriftedCondition); d == nil || d.Reason != v2.NoDriftDetectedReason {
			return fmt.Errorf("Drifted: %+v", d)
		}
		return nil
	})

	replicas := func() int32 {
		d := &appsv1.Deployment{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo"}, d); err != nil || d.Spec.Replicas == nil {
			return -1
		}
		return *d.Spec.Replicas
	}
	scale := func() {
		d := &appsv1.Deployment{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo"}, d); err != nil {
			t.Fatal(err)
		}
		five := int32(5)
		d.Spec.Replicas = &five
		if err := env.Client.Update(ctx, d, client.FieldOwner("kubectl-scale")); err != nil {
			t.Fatal(err)
		}
	}
	scale()
	testenv.Eventually(t, 20*time.Second, func() error {
		if n := replicas(); n != 2 {
			return fmt.Errorf("%d replicas", n)
		}
		return nil
	})
	if err := env.Client.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-config"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, &corev1.ConfigMap{})
	})
	got := waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if d := conditionOf(o, v2.DriftedCondition); d == nil || !strings.Contains(d.Message, "was corrected") {
			return fmt.Errorf("Drifted: %+v", d)
		}
		return nil
	})
	if got.Status.LastReleaseRevision != 1 {
		t.Errorf("drift was corrected by a Helm upgrade (revision %d), not by applying the objects", got.Status.LastReleaseRevision)
	}
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Annotations["meta.helm.sh/release-name"] != "demo" || cm.Labels["app.kubernetes.io/managed-by"] != "Helm" {
		t.Errorf("the recreated ConfigMap lacks Helm's ownership (an uninstall would leave it): %v %v %v", cm.Labels, cm.Annotations, err)
	}

	// warn: reported, left alone.
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.DriftDetection.Mode = "warn"
	if err := env.Client.Patch(ctx, got, patch); err != nil {
		t.Fatal(err)
	}
	waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if o.Status.ObservedGeneration != o.Generation {
			return fmt.Errorf("generation %d not observed", o.Generation)
		}
		return nil
	})
	scale()
	waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		d := conditionOf(o, v2.DriftedCondition)
		if d == nil || d.Status != metav1.ConditionTrue || d.Reason != v2.DriftDetectedReason || !strings.Contains(d.Message, "Deployment/"+ns+"/demo changed") {
			return fmt.Errorf("Drifted: %+v", d)
		}
		if c.Status != metav1.ConditionTrue {
			return fmt.Errorf("drift in warn mode made the release not Ready: %s", c.Message)
		}
		return nil
	})
	if n := replicas(); n != 5 {
		t.Errorf("warn mode changed the Deployment: %d replicas", n)
	}
}

func conditionOf(o *v2.HelmRelease, typ string) *metav1.Condition {
	for i := range o.Status.Conditions {
		if o.Status.Conditions[i].Type == typ {
			return &o.Status.Conditions[i]
		}
	}
	return nil
}

// With serviceAccountName every Helm action runs as that account: a chart within its rights
// installs; one with an object outside them (a ClusterRole) is refused by the API server and
// leaves nothing of it behind.
func TestHelmReleaseImpersonation(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}, Verbs: []string{"*"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "tenant"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "tenant", Namespace: ns}}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	allowed := demoRelease(ns, func(hr *v2.HelmRelease) { hr.Spec.ServiceAccountName = "tenant" })
	if err := env.Client.Create(ctx, allowed); err != nil {
		t.Fatal(err)
	}
	serveChart(t, ns, ns+"-demo", "1.0.0")
	waitRelease(t, client.ObjectKeyFromObject(allowed), releasedAt(1, "1.0.0"))

	clusterRole := "hr-" + ns + "-escalate"
	refused := demoRelease(ns, func(hr *v2.HelmRelease) {
		hr.Name = "escalate"
		hr.Spec.ServiceAccountName = "tenant"
	})
	if err := env.Client.Create(ctx, refused); err != nil {
		t.Fatal(err)
	}
	serveChart(t, ns, ns+"-escalate", "1.0.0", map[string]string{"templates/role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: " + clusterRole + "\nrules:\n- apiGroups: ['*']\n  resources: ['*']\n  verbs: ['*']\n"})
	waitRelease(t, client.ObjectKeyFromObject(refused), func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "forbidden") || !strings.Contains(c.Message, "system:serviceaccount:"+ns+":tenant") {
			return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Name: clusterRole}, &rbacv1.ClusterRole{}); err == nil {
		t.Errorf("the ClusterRole outside the account's rights was created")
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "escalate-config"}, &corev1.ConfigMap{}); err == nil {
		t.Errorf("the failed install left its ConfigMap behind")
	}
}

// An install waits for its objects to be ready, as the shared watch sees them: a Deployment
// that no node runs times the install out with what it waits for; one whose status turns
// available (played here, as a node would) makes the release Ready at once.
func TestHelmReleaseWaitsFromTheWatch(t *testing.T) {
	ctx := testenv.Context(t)
	t.Run("times out", func(t *testing.T) {
		ns := newNamespace(t)
		hr := demoRelease(ns, func(hr *v2.HelmRelease) { hr.Spec.Timeout = &meta.Duration{Duration: 2 * time.Second} })
		if err := env.Client.Create(ctx, hr); err != nil {
			t.Fatal(err)
		}
		serveChart(t, ns, ns+"-demo", "1.0.0", deploymentChart)
		waitRelease(t, client.ObjectKeyFromObject(hr), func(o *v2.HelmRelease, c *metav1.Condition) error {
			if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "timed out after 2s waiting for: Deployment/"+ns+"/demo (InProgress") {
				return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
			}
			return nil
		})
	})
	t.Run("healthCheckExprs", func(t *testing.T) {
		// kstatus would wait for the Deployment to be available; the expression decides instead.
		ns := newNamespace(t)
		hr := demoRelease(ns, func(hr *v2.HelmRelease) {
			hr.Spec.Timeout = &meta.Duration{Duration: 20 * time.Second}
			hr.Spec.HealthCheckExprs = []kustomize.CustomHealthCheck{{APIVersion: "apps/v1", Kind: "Deployment",
				HealthCheckExpressions: kustomize.HealthCheckExpressions{Current: "spec.replicas == 1"}}}
		})
		if err := env.Client.Create(ctx, hr); err != nil {
			t.Fatal(err)
		}
		serveChart(t, ns, ns+"-demo", "1.0.0", deploymentChart)
		waitRelease(t, client.ObjectKeyFromObject(hr), releasedAt(1, "1.0.0"))
	})
	t.Run("ready", func(t *testing.T) {
		ns := newNamespace(t)
		hr := demoRelease(ns, nil)
		if err := env.Client.Create(ctx, hr); err != nil {
			t.Fatal(err)
		}
		serveChart(t, ns, ns+"-demo", "1.0.0", deploymentChart)
		d := &appsv1.Deployment{}
		testenv.Eventually(t, 30*time.Second, func() error {
			return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo"}, d)
		})
		got := &v2.HelmRelease{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(hr), got); err != nil {
			t.Fatal(err)
		}
		if c := conditionOf(got, meta.ReadyCondition); c != nil && c.Status == metav1.ConditionTrue {
			t.Fatalf("Ready before its Deployment is available: %s", c.Message)
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}}
		if err := env.Client.Status().Update(ctx, d); err != nil {
			t.Fatal(err)
		}
		// The wait's backstop is an hour here: only the watch's event can end it.
		waitRelease(t, client.ObjectKeyFromObject(hr), releasedAt(1, "1.0.0"))
	})
}

// Another chart under the same release: reinstalled by default (the old release uninstalled,
// the new one at revision 1), upgraded in place with chartNameChangeStrategy InPlaceUpdate.
func TestHelmReleaseChartNameChange(t *testing.T) {
	ctx := testenv.Context(t)
	for _, tc := range []struct {
		strategy string
		revision int
		action   string
	}{{"", 1, "install"}, {"InPlaceUpdate", 2, "upgrade"}} {
		t.Run("strategy "+tc.strategy, func(t *testing.T) {
			ns := newNamespace(t)
			hr := demoRelease(ns, func(hr *v2.HelmRelease) { hr.Spec.Upgrade = &v2.Upgrade{ChartNameChangeStrategy: tc.strategy} })
			if err := env.Client.Create(ctx, hr); err != nil {
				t.Fatal(err)
			}
			key := client.ObjectKeyFromObject(hr)
			serveChart(t, ns, ns+"-demo", "1.0.0")
			waitRelease(t, key, releasedAt(1, "1.0.0"))
			serveChart(t, ns, ns+"-demo", "2.0.0", map[string]string{"Chart.yaml": "apiVersion: v2\nname: renamed\nversion: 2.0.0\n"})
			got := waitRelease(t, key, releasedAt(tc.revision, "2.0.0"))
			if h := got.Status.History[0]; h.ChartName != "renamed" || h.Action != tc.action {
				t.Errorf("history[0]: chart %s, action %s; want renamed, %s", h.ChartName, h.Action, tc.action)
			}
		})
	}
}
