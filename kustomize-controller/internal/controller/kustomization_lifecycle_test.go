package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/tracker"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// frontend is the monorepo layout of Flux's docs: a base and a production overlay.
func frontend(ns string) map[string]string {
	return map[string]string{
		"apps/frontend/base/kustomization.yaml": "resources: [deployment.yaml, service.yaml, config.yaml]\n",
		"apps/frontend/base/deployment.yaml":    deploymentYAML("frontend", ns, 1, "ghcr.io/example/frontend:1.0.0"),
		"apps/frontend/base/service.yaml":       serviceYAML("frontend", ns),
		"apps/frontend/base/config.yaml":        configMap("frontend", ns, "base"),
		"apps/frontend/overlays/production/kustomization.yaml": `resources: [../../base]
patches:
  - target: {kind: Deployment, name: frontend}
    patch: |
      - op: replace
        path: /spec/replicas
        value: 3
images:
  - name: ghcr.io/example/frontend
    newTag: 1.1.0
`,
	}
}

func TestKustomizationOverlayPruneAndSelfHeal(t *testing.T) {
	ns := "production-heal"
	namespace(t, ns)
	files := frontend(ns)
	src := gitSource(t, "heal", artifacts.publish(t, "heal", "main@sha1:0001", files))
	ks := kustomization(t, "frontend", "heal", "./apps/frontend/overlays/production", func(k *kustomizev1.Kustomization) {
		k.Spec.Interval = meta.Duration{Duration: time.Second} // the next reconcile comes soon
	})
	got := waitKS(t, ks, appliedRevision("main@sha1:0001"))
	if n := len(got.Status.Inventory.Entries); n != 3 {
		t.Fatalf("inventory = %+v", got.Status.Inventory.Entries)
	}

	d := &appsv1.Deployment{}
	if !exists(t, ns, "frontend", d) {
		t.Fatal("deployment not applied")
	}
	if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.Containers[0].Image != "ghcr.io/example/frontend:1.1.0" {
		t.Fatalf("overlay not built: replicas %d image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}

	// kubectl scale goes through the scale subresource; the next reconcile undoes it.
	scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 1}}
	if err := env.Client.SubResource("scale").Update(testenv.Context(t), d, client.WithSubResourceBody(scale), client.FieldOwner("kubectl")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		exists(t, ns, "frontend", d)
		if *d.Spec.Replicas != 3 {
			return fmt.Errorf("replicas = %d", *d.Spec.Replicas)
		}
		return nil
	})

	// kubectl edit of a ConfigMap, then kubectl delete of the Service: both come back.
	cm := &corev1.ConfigMap{}
	exists(t, ns, "frontend", cm)
	if err := env.Client.Patch(testenv.Context(t), cm, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"value":"edited"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	exists(t, ns, "frontend", svc)
	if err := env.Client.Delete(testenv.Context(t), svc); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if !exists(t, ns, "frontend", svc) {
			return fmt.Errorf("service not restored")
		}
		if exists(t, ns, "frontend", cm); cm.Data["value"] != "base" {
			return fmt.Errorf("configmap value %q", cm.Data["value"])
		}
		return nil
	})
	// Each correction was announced as a change set.
	testenv.Eventually(t, 30*time.Second, func() error {
		return eventWith(t, ks, "Service/"+ns+"/frontend created", "ConfigMap/"+ns+"/frontend configured", "Deployment/"+ns+"/frontend configured")
	})

	// The Service leaves Git: it is pruned. A ConfigMap that opted out of pruning stays.
	files["apps/frontend/base/kustomization.yaml"] = "resources: [deployment.yaml, keep.yaml]\n"
	files["apps/frontend/base/keep.yaml"] = strings.Replace(configMap("keep", ns, "x"), "metadata:\n", "metadata:\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\n", 1)
	setArtifact(t, src, artifacts.publish(t, "heal", "main@sha1:0002", files))
	got = waitKS(t, ks, appliedRevision("main@sha1:0002"))
	if exists(t, ns, "frontend", svc) || exists(t, ns, "frontend", &corev1.ConfigMap{}) {
		t.Fatal("objects removed from Git were not pruned")
	}
	if !exists(t, ns, "frontend", d) || !exists(t, ns, "keep", &corev1.ConfigMap{}) {
		t.Fatal("objects still in Git were deleted")
	}
	want := []string{ns + "_frontend_apps_Deployment", ns + "_keep__ConfigMap"}
	if ids := inventoryIDs(got); strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("inventory = %v, want %v", ids, want)
	}

	files["apps/frontend/base/kustomization.yaml"] = "resources: [deployment.yaml]\n"
	setArtifact(t, src, artifacts.publish(t, "heal", "main@sha1:0003", files))
	waitKS(t, ks, appliedRevision("main@sha1:0003"))
	if !exists(t, ns, "keep", &corev1.ConfigMap{}) {
		t.Fatal("an object annotated prune: disabled was pruned")
	}
}

// hourlyFrontend applies the production frontend in ns with an interval of an hour, so that
// nothing periodic happens during a test.
func hourlyFrontend(t *testing.T, ns, name string) *kustomizev1.Kustomization {
	t.Helper()
	namespace(t, ns)
	gitSource(t, name, artifacts.publish(t, name, "main@sha1:0001", frontend(ns)))
	ks := kustomization(t, "frontend-"+name, name, "./apps/frontend/overlays/production", func(k *kustomizev1.Kustomization) {
		k.Spec.Interval = meta.Duration{Duration: time.Hour}
	})
	return waitKS(t, ks, appliedRevision("main@sha1:0001"))
}

// With an interval of an hour, only the watch on the applied objects can undo drift in time.
func TestKustomizationCorrectsDriftAsItHappens(t *testing.T) {
	ns := "drift-watch"
	ks := hourlyFrontend(t, ns, "drift")

	d, cm, svc := &appsv1.Deployment{}, &corev1.ConfigMap{}, &corev1.Service{}
	exists(t, ns, "frontend", d)
	exists(t, ns, "frontend", cm)
	exists(t, ns, "frontend", svc)
	// A write to a field Git does not set, by a tool other than kubectl (whose fields Flux
	// removes), is not drift: it stays.
	if err := env.Client.Patch(testenv.Context(t), cm, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"team":"web"}}}`)), client.FieldOwner("team-tool")); err != nil {
		t.Fatal(err)
	}
	scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 1}}
	if err := env.Client.SubResource("scale").Update(testenv.Context(t), d, client.WithSubResourceBody(scale), client.FieldOwner("kubectl")); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Patch(testenv.Context(t), cm, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"value":"edited"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(testenv.Context(t), svc); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if exists(t, ns, "frontend", d); *d.Spec.Replicas != 3 {
			return fmt.Errorf("replicas = %d", *d.Spec.Replicas)
		}
		if exists(t, ns, "frontend", cm); cm.Data["value"] != "base" {
			return fmt.Errorf("configmap value %q", cm.Data["value"])
		}
		if !exists(t, ns, "frontend", svc) {
			return fmt.Errorf("service not restored")
		}
		return nil
	})
	if cm.Annotations["team"] != "web" {
		t.Errorf("an annotation Git does not set was removed: %v", cm.Annotations)
	}
	// The change set says who changed what, for the Alerts that forward it.
	testenv.Eventually(t, 10*time.Second, func() error {
		return eventWith(t, ks, "ConfigMap/"+ns+"/frontend configured (drift: changed by kubectl-edit)", "Service/"+ns+"/frontend created (drift: deleted)")
	})
	// Operators see it in the metrics: two objects changed by other writers, one deleted; the
	// annotation and the controller's own writes are not counted.
	changed := testutil.ToFloat64(driftDetected.WithLabelValues(ks.Name, ks.Namespace, "changed"))
	deleted := testutil.ToFloat64(driftDetected.WithLabelValues(ks.Name, ks.Namespace, "deleted"))
	if changed != 2 || deleted != 1 {
		t.Errorf("driftless_kustomize_drift_detected_total: changed %v, deleted %v", changed, deleted)
	}
}

// A field removed by a writer that leaves no managedFields entry of its own (a JSON patch) is
// drift as much as a field changed: the watch restores it, with an interval of an hour.
func TestKustomizationRestoresAFieldRemovedByAnotherWriter(t *testing.T) {
	ns := "drift-removal"
	hourlyFrontend(t, ns, "removal")
	cm := &corev1.ConfigMap{}
	cm.Name, cm.Namespace = "frontend", ns
	if err := env.Client.Patch(testenv.Context(t), cm, client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/data/value"}]`)), client.FieldOwner("kubectl-patch")); err != nil {
		t.Fatal(err)
	}
	if cm.Data["value"] != "" {
		t.Fatalf("the patch left data.value = %q", cm.Data["value"])
	}
	testenv.Eventually(t, 20*time.Second, func() error { return configValue(t, ns, "base") })
}

// The fast path trusts the tracker only for --verify-interval: then the objects are compared
// with the API server again (listed, not dry-run: nobody wrote to them), although nothing
// changed in Git or in the cluster.
func TestKustomizationComparesWithTheAPIServerPeriodically(t *testing.T) {
	ns := "verify-periodically"
	namespace(t, ns)
	gitSource(t, "verify", artifacts.publish(t, "verify", "main@sha1:0001", frontend(ns)))
	ks := kustomization(t, "frontend-verify", "verify", "./apps/frontend/overlays/production", func(k *kustomizev1.Kustomization) {
		k.Spec.Interval = meta.Duration{Duration: time.Second}
	})
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
	compared := make(chan struct{}, 1)
	afterList(t, "ConfigMap", ns, func() {
		select {
		case compared <- struct{}{}:
		default:
		}
	})
	var patches atomic.Int32
	afterPatch(t, "ConfigMap", types.NamespacedName{Namespace: ns, Name: "frontend"}, func() { patches.Add(1) })
	select {
	case <-compared:
	case <-time.After(3 * suiteVerifyInterval):
		t.Fatalf("the ConfigMap was not compared with the API server in %s", 3*suiteVerifyInterval)
	}
	if n := patches.Load(); n != 0 {
		t.Errorf("%d dry-runs or applies of a ConfigMap nobody wrote to", n)
	}
}

// After a restart nothing is remembered of the last apply: an object that only the
// controller's applies wrote is applied with one request (no read, no dry-run), and one that
// did not change is not written.
func TestKustomizationWithoutAMemoAppliesEachObjectOnce(t *testing.T) {
	ns := "no-memo"
	ks := hourlyFrontend(t, ns, "nomemo")
	cm := &corev1.ConfigMap{}
	exists(t, ns, "frontend", cm)
	var patches, dryRuns atomic.Int32
	afterPatch(t, "ConfigMap", client.ObjectKeyFromObject(cm), func() { patches.Add(1) })
	afterDryRun(t, "ConfigMap", client.ObjectKeyFromObject(cm), func() { dryRuns.Add(1) })
	reconciler.memos.Delete(client.ObjectKeyFromObject(ks))
	requestReconcile(t, ks, "restarted")
	waitKS(t, ks, func(k *kustomizev1.Kustomization) error {
		if k.Status.LastHandledReconcileAt != "restarted" {
			return fmt.Errorf("lastHandledReconcileAt = %q", k.Status.LastHandledReconcileAt)
		}
		return appliedRevision("main@sha1:0001")(k)
	})
	after := &corev1.ConfigMap{}
	exists(t, ns, "frontend", after)
	if after.ResourceVersion != cm.ResourceVersion {
		t.Errorf("the unchanged ConfigMap was written: resourceVersion %s, was %s", after.ResourceVersion, cm.ResourceVersion)
	}
	if p, d := patches.Load(), dryRuns.Load(); p != 1 || d != 0 {
		t.Errorf("%d patches, %d of them dry-runs; want one apply", p, d)
	}
}

// A drift correction that fails for a moment (the API server busy) is retried within a
// second, with backoff, not at retryInterval (here an hour, like the interval): the watch that
// saw the drift does not fire again.
func TestKustomizationRetriesAFailedDriftCorrection(t *testing.T) {
	ns := "drift-retry"
	hourlyFrontend(t, ns, "retry")
	cm := &corev1.ConfigMap{}
	cm.Name, cm.Namespace = "frontend", ns
	failNextPatch(t, "ConfigMap", client.ObjectKeyFromObject(cm))
	if err := env.Client.Patch(testenv.Context(t), cm, client.RawPatch(types.MergePatchType, []byte(`{"data":{"value":"edited"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if _, pending := failNextPatches.Load("ConfigMap/" + ns + "/frontend"); pending {
			return fmt.Errorf("the correction has not been tried yet")
		}
		return configValue(t, ns, "base")
	})
}

// A write that lands during an apply, after the resource manager compared the object, is not
// mistaken for the state the apply verified: the reconcile that the drift starts corrects it.
func TestKustomizationDriftDuringApplyIsCorrected(t *testing.T) {
	ns := "drift-during-apply"
	ks := hourlyFrontend(t, ns, "during")
	edited := editDuringApply(t, ns)
	// Another writer's label (not drift: Git sets no such label) makes the ConfigMap one to
	// compare with a dry-run, which a manual request then does.
	cm := &corev1.ConfigMap{}
	cm.Name, cm.Namespace = "frontend", ns
	if err := env.Client.Patch(testenv.Context(t), cm, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"web"}}}`)), client.FieldOwner("kubectl-label")); err != nil {
		t.Fatal(err)
	}
	requestReconcile(t, ks, "during")
	waitEdited(t, edited)
	testenv.Eventually(t, 20*time.Second, func() error {
		return configValue(t, ns, "base")
	})
}

// editDuringApply makes the controller's next write of the frontend ConfigMap in ns (a dry-run
// or an apply) be followed, before the reconcile records its outcome, by an edit of that
// ConfigMap that the tracker has seen. The returned channel is closed after the edit.
func editDuringApply(t *testing.T, ns string) <-chan struct{} {
	t.Helper()
	cm := &corev1.ConfigMap{}
	cm.Name, cm.Namespace = "frontend", ns
	seen := func() string {
		live, _ := reconciler.tracker.Get(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, client.ObjectKeyFromObject(cm))
		if live == nil {
			return ""
		}
		return tracker.Fingerprint(live)
	}
	var once sync.Once
	edited := make(chan struct{})
	afterPatch(t, "ConfigMap", client.ObjectKeyFromObject(cm), func() {
		once.Do(func() {
			defer close(edited)
			before := seen()
			edit := client.RawPatch(types.MergePatchType, []byte(`{"data":{"value":"edited"}}`))
			if err := env.Client.Patch(context.Background(), cm.DeepCopy(), edit, client.FieldOwner("kubectl-edit")); err != nil {
				t.Error(err)
				return
			}
			for deadline := time.Now().Add(10 * time.Second); seen() == before && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
		})
	})
	return edited
}

func configValue(t *testing.T, ns, want string) error {
	cm := &corev1.ConfigMap{}
	if !exists(t, ns, "frontend", cm) {
		return fmt.Errorf("configmap frontend not found")
	}
	if cm.Data["value"] != want {
		return fmt.Errorf("configmap value %q", cm.Data["value"])
	}
	return nil
}

func waitEdited(t *testing.T, edited <-chan struct{}) {
	t.Helper()
	select {
	case <-edited:
	case <-time.After(20 * time.Second):
		t.Fatal("the Kustomization was not applied")
	}
}

// Drift during a Kustomization's first apply, before there is a last apply to compare with,
// is corrected too.
func TestKustomizationDriftDuringFirstApplyIsCorrected(t *testing.T) {
	ns := "drift-first-apply"
	namespace(t, ns)
	gitSource(t, "first", artifacts.publish(t, "first", "main@sha1:0001", frontend(ns)))
	edited := editDuringApply(t, ns)
	kustomization(t, "frontend-first", "first", "./apps/frontend/overlays/production")
	waitEdited(t, edited)
	testenv.Eventually(t, 20*time.Second, func() error {
		return configValue(t, ns, "base")
	})
}

// A writer that keeps taking a field over (an HPA against replicas in Git) is answered once
// per drift correction gap (TestDriftCorrectionSchedule decides it; the bench measures it):
// the corrections that wait for the gap still come, and Git wins once the writer stops.
func TestKustomizationDriftFightEndsWithGit(t *testing.T) {
	ns := "drift-fight"
	ks := hourlyFrontend(t, ns, "fight")

	d := &appsv1.Deployment{}
	for i := range 5 {
		// Each write lands after the previous correction: within the gap of it, so that
		// every correction after the first waits for the gap.
		testenv.Eventually(t, 20*time.Second, func() error {
			if exists(t, ns, "frontend", d); *d.Spec.Replicas != 3 {
				return fmt.Errorf("write %d: replicas = %d, not corrected yet", i, *d.Spec.Replicas)
			}
			return nil
		})
		scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 1}}
		if err := env.Client.SubResource("scale").Update(testenv.Context(t), d, client.WithSubResourceBody(scale), client.FieldOwner("autoscaler")); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if exists(t, ns, "frontend", d); *d.Spec.Replicas != 3 {
			return fmt.Errorf("replicas = %d", *d.Spec.Replicas)
		}
		return nil
	})
	if n := testutil.ToFloat64(driftDetected.WithLabelValues(ks.Name, ks.Namespace, "changed")); n != 5 {
		t.Errorf("driftless_kustomize_drift_detected_total{cause=changed} = %v, want 5", n)
	}
}

func TestKustomizationPruneFalseKeepsObjects(t *testing.T) {
	ns := "apps-noprune"
	namespace(t, ns)
	files := map[string]string{"a.yaml": configMap("a", ns, "1"), "b.yaml": configMap("b", ns, "1")}
	src := gitSource(t, "noprune", artifacts.publish(t, "noprune", "main@sha1:0001", files))
	ks := kustomization(t, "noprune", "noprune", "./", func(k *kustomizev1.Kustomization) { k.Spec.Prune = false })
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
	delete(files, "b.yaml")
	setArtifact(t, src, artifacts.publish(t, "noprune", "main@sha1:0002", files))
	got := waitKS(t, ks, appliedRevision("main@sha1:0002"))
	if !exists(t, ns, "b", &corev1.ConfigMap{}) {
		t.Fatal("prune: false deleted an object")
	}
	if ids := inventoryIDs(got); len(ids) != 1 {
		t.Fatalf("inventory = %v", ids)
	}
}

func TestKustomizationDeletionPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy string
		prune  bool
		kept   bool
	}{
		{policy: "", prune: true, kept: false},            // MirrorPrune follows prune
		{policy: "MirrorPrune", prune: false, kept: true}, // ... both ways
		{policy: "Delete", prune: false, kept: false},     // deletes even without prune
		{policy: "WaitForTermination", prune: true, kept: false},
		{policy: "Orphan", prune: true, kept: true},
	} {
		name := strings.ToLower(tc.policy)
		if name == "" {
			name = "default"
		}
		t.Run(name+fmt.Sprint(tc.prune), func(t *testing.T) {
			ns := "delete-" + name + fmt.Sprint(tc.prune)
			namespace(t, ns)
			gitSource(t, ns, artifacts.publish(t, ns, "main@sha1:0001", map[string]string{"cm.yaml": configMap("cm", ns, "1")}))
			ks := kustomization(t, ns, ns, "./", func(k *kustomizev1.Kustomization) {
				k.Spec.Prune = tc.prune
				k.Spec.DeletionPolicy = tc.policy
			})
			waitKS(t, ks, appliedRevision("main@sha1:0001"))
			if err := env.Client.Delete(testenv.Context(t), ks); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 30*time.Second, func() error {
				if exists(t, ks.Namespace, ks.Name, &kustomizev1.Kustomization{}) {
					return fmt.Errorf("kustomization still there")
				}
				return nil
			})
			if got := exists(t, ns, "cm", &corev1.ConfigMap{}); got != tc.kept {
				t.Fatalf("configmap kept = %v, want %v", got, tc.kept)
			}
		})
	}
}

func TestKustomizationNeverPrunesForeignObjects(t *testing.T) {
	ns := "apps-foreign"
	namespace(t, ns)
	files := map[string]string{"a.yaml": configMap("a", ns, "1"), "b.yaml": configMap("b", ns, "1")}
	src := gitSource(t, "foreign", artifacts.publish(t, "foreign", "main@sha1:0001", files))
	ks := kustomization(t, "foreign", "foreign", "./")
	waitKS(t, ks, appliedRevision("main@sha1:0001"))

	// Another tool takes 'b' over: its owner labels now name someone else.
	b := &corev1.ConfigMap{}
	exists(t, ns, "b", b)
	mergePatch(t, b, `{"metadata":{"labels":{"kustomize.toolkit.fluxcd.io/name":"someone-else"}}}`)
	delete(files, "b.yaml")
	setArtifact(t, src, artifacts.publish(t, "foreign", "main@sha1:0002", files))
	waitKS(t, ks, appliedRevision("main@sha1:0002"))
	if !exists(t, ns, "b", &corev1.ConfigMap{}) {
		t.Fatal("an object owned by another Kustomization was pruned")
	}
}

func inventoryIDs(ks *kustomizev1.Kustomization) []string {
	if ks.Status.Inventory == nil {
		return nil
	}
	var ids []string
	for _, e := range ks.Status.Inventory.Entries {
		ids = append(ids, e.ID)
	}
	return ids
}

// eventWith fails unless some Normal event of the Kustomization holds every line.
func eventWith(t *testing.T, ks *kustomizev1.Kustomization, lines ...string) error {
	t.Helper()
	list := &corev1.EventList{}
	if err := env.Client.List(testenv.Context(t), list, client.InNamespace(ks.Namespace)); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name != ks.Name || ev.InvolvedObject.Kind != kustomizev1.KustomizationKind || ev.Reason != meta.ProgressingReason {
			continue
		}
		for _, l := range lines {
			if strings.Contains(ev.Message, l) {
				seen[l] = true
			}
		}
	}
	for _, l := range lines {
		if !seen[l] {
			return fmt.Errorf("no change-set event with %q", l)
		}
	}
	return nil
}

func TestKustomizationAdoptsKubectlObjects(t *testing.T) {
	ns := "adopt"
	namespace(t, ns)
	// Created earlier with `kubectl apply` (client-side): kubectl owns the fields and left
	// its last-applied annotation.
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: ns, Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: `{"data":{"value":"old"}}`}},
		Data:       map[string]string{"value": "old", "extra": "kubectl"},
	}
	if err := env.Client.Create(testenv.Context(t), cm, client.FieldOwner("kubectl")); err != nil {
		t.Fatal(err)
	}
	gitSource(t, "adopt", artifacts.publish(t, "adopt", "main@sha1:0001", map[string]string{"cm.yaml": configMap("legacy", ns, "new")}))
	ks := kustomization(t, "adopt", "adopt", "./")
	waitKS(t, ks, appliedRevision("main@sha1:0001"))

	exists(t, ns, "legacy", cm)
	if cm.Data["value"] != "new" {
		t.Errorf("value = %q", cm.Data["value"])
	}
	if _, ok := cm.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("kubectl's last-applied annotation was kept")
	}
	if _, ok := cm.Data["extra"]; ok {
		t.Error("a field only kubectl owned survived: its ownership was not taken over")
	}
	for _, mf := range cm.ManagedFields {
		if mf.Manager == "kubectl" {
			t.Errorf("kubectl still manages fields: %+v", mf)
		}
	}
}

func TestKustomizationPerObjectApplyPolicies(t *testing.T) {
	ns := "policies"
	namespace(t, ns)
	withAnnotation := func(doc, key, value string) string {
		return strings.Replace(doc, "metadata:\n", fmt.Sprintf("metadata:\n  annotations:\n    %s: %s\n", key, value), 1)
	}
	immutable := func(value string) string {
		return withAnnotation(configMap("frozen", ns, value), kustomizev1.ForceAnnotation, "Enabled") + "immutable: true\n"
	}
	files := map[string]string{
		"once.yaml":   withAnnotation(configMap("once", ns, "git"), kustomizev1.SSAAnnotation, "IfNotPresent"),
		"ignore.yaml": withAnnotation(configMap("ignored", ns, "git"), kustomizev1.SSAAnnotation, "Ignore"),
		"merge.yaml":  withAnnotation(configMap("merged", ns, "git"), kustomizev1.SSAAnnotation, "Merge"),
		"frozen.yaml": immutable("v1"),
	}
	src := gitSource(t, "policies", artifacts.publish(t, "policies", "main@sha1:0001", files))
	ks := kustomization(t, "policies", "policies", "./")
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
	if exists(t, ns, "ignored", &corev1.ConfigMap{}) {
		t.Fatal("an object annotated ssa: Ignore was applied")
	}

	// Out-of-band edits: IfNotPresent keeps them; Merge keeps fields only kubectl owns.
	once, merged := &corev1.ConfigMap{}, &corev1.ConfigMap{}
	exists(t, ns, "once", once)
	exists(t, ns, "merged", merged)
	if err := env.Client.Patch(testenv.Context(t), once, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"value":"edited"}}`)), client.FieldOwner("kubectl")); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Patch(testenv.Context(t), merged, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"extra":"kubectl"}}`)), client.FieldOwner("kubectl")); err != nil {
		t.Fatal(err)
	}
	// A change to an immutable ConfigMap: recreated, since it asks for force.
	files["frozen.yaml"] = immutable("v2")
	setArtifact(t, src, artifacts.publish(t, "policies", "main@sha1:0002", files))
	waitKS(t, ks, appliedRevision("main@sha1:0002"))

	frozen := &corev1.ConfigMap{}
	if exists(t, ns, "frozen", frozen); frozen.Data["value"] != "v2" {
		t.Errorf("immutable ConfigMap not recreated: %v", frozen.Data)
	}
	if exists(t, ns, "once", once); once.Data["value"] != "edited" {
		t.Errorf("ssa: IfNotPresent overwrote a live object: %v", once.Data)
	}
	if exists(t, ns, "merged", merged); merged.Data["extra"] != "kubectl" || merged.Data["value"] != "git" {
		t.Errorf("ssa: Merge lost kubectl's field or Git's: %v", merged.Data)
	}
}

// RBAC names may hold ':' and '_', which the inventory id uses as separator: the ids are
// Flux's (a ':' written '__'), health and pruning read them back, and an inventory written by
// Flux is read the same way.
func TestKustomizationInventoryOfRBACNames(t *testing.T) {
	role := func(name string) string {
		return "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: " + name + "\nrules: []\n"
	}
	files := map[string]string{"viewer.yaml": role("team:viewer"), "editor.yaml": role("team_editor")}
	src := gitSource(t, "rbac-names", artifacts.publish(t, "rbac-names", "main@sha1:0001", files))
	ks := kustomization(t, "rbac-names", "rbac-names", "./", func(k *kustomizev1.Kustomization) { k.Spec.Wait = true })
	got := waitKS(t, ks, appliedRevision("main@sha1:0001"))
	want := []string{"_team__viewer_rbac.authorization.k8s.io_ClusterRole", "_team_editor_rbac.authorization.k8s.io_ClusterRole"}
	if ids := inventoryIDs(got); strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("inventory = %v, want %v", ids, want)
	}

	setArtifact(t, src, artifacts.publish(t, "rbac-names", "main@sha1:0002", map[string]string{"viewer.yaml": role("team:viewer")}))
	waitKS(t, ks, appliedRevision("main@sha1:0002"))
	if exists(t, "", "team_editor", &rbacv1.ClusterRole{}) {
		t.Fatal("the ClusterRole removed from Git was not pruned")
	}
	if !exists(t, "", "team:viewer", &rbacv1.ClusterRole{}) {
		t.Fatal("the ClusterRole still in Git was deleted")
	}
}
