package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

func namespace(t *testing.T, name string) {
	t.Helper()
	if err := env.Client.Create(testenv.Context(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// gitSource creates a GitRepository and sets its status to a, as source-controller would.
func gitSource(t *testing.T, name string, a meta.Artifact) *sourcev1.GitRepository {
	t.Helper()
	src := &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       sourcev1.GitRepositorySpec{URL: "https://example.com/" + name, Interval: meta.Duration{Duration: time.Hour}},
	}
	if err := env.Client.Create(testenv.Context(t), src); err != nil {
		t.Fatal(err)
	}
	setArtifact(t, src, a)
	return src
}

// setArtifact gives a source (GitRepository, OCIRepository, Bucket, ExternalArtifact) the
// artifact a and Ready=True, as its producer would.
func setArtifact(t *testing.T, src client.Object, a meta.Artifact) {
	t.Helper()
	current := src.DeepCopyObject().(client.Object)
	if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(src), current); err != nil {
		t.Fatal(err)
	}
	base := current.DeepCopyObject().(client.Object)
	ready := []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: meta.SucceededReason, LastTransitionTime: metav1.Now()}}
	switch o := current.(type) {
	case *sourcev1.GitRepository:
		o.Status.Artifact, o.Status.Conditions = &a, ready
	case *sourcev1.OCIRepository:
		o.Status.Artifact, o.Status.Conditions = &a, ready
	case *sourcev1.Bucket:
		o.Status.Artifact, o.Status.Conditions = &a, ready
	case *sourcev1.ExternalArtifact:
		o.Status.Artifact, o.Status.Conditions = &a, ready
	default:
		t.Fatalf("%T is not a source", src)
	}
	if err := env.Client.Status().Patch(testenv.Context(t), current, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
}

func kustomization(t *testing.T, name, source, path string, mutate ...func(*kustomizev1.Kustomization)) *kustomizev1.Kustomization {
	t.Helper()
	suiteLog.showOnFailure(t)
	ks := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: kustomizev1.KustomizationSpec{
			Interval:  meta.Duration{Duration: time.Hour},
			Path:      path,
			Prune:     true,
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: source},
			Timeout:   &meta.Duration{Duration: 30 * time.Second},
		},
	}
	for _, m := range mutate {
		m(ks)
	}
	if err := env.Client.Create(testenv.Context(t), ks); err != nil {
		t.Fatal(err)
	}
	return ks
}

func getKS(t *testing.T, ks *kustomizev1.Kustomization) *kustomizev1.Kustomization {
	t.Helper()
	got := &kustomizev1.Kustomization{}
	if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(ks), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func ready(ks *kustomizev1.Kustomization) *metav1.Condition {
	return condition(ks, meta.ReadyCondition)
}

func configMap(name, ns, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  value: %q\n", name, ns, value)
}

func TestKustomizationAppliesAndFollowsNewRevisions(t *testing.T) {
	namespace(t, "apps-follow")
	files := map[string]string{
		"apps/web/kustomization.yaml": "resources: [config.yaml]\n",
		"apps/web/config.yaml":        configMap("web", "apps-follow", "v1"),
		"apps/db/config.yaml":         configMap("db", "apps-follow", "db"),
	}
	a1 := artifacts.publish(t, "follow", "main@sha1:1111", files)
	src := gitSource(t, "follow", a1)
	ks := kustomization(t, "web", "follow", "./apps/web")

	var got *kustomizev1.Kustomization
	testenv.Eventually(t, 30*time.Second, func() error {
		got = getKS(t, ks)
		if c := ready(got); c == nil || c.Status != metav1.ConditionTrue || got.Status.LastAppliedRevision != "main@sha1:1111" {
			return fmt.Errorf("ready = %+v, lastApplied %q", c, got.Status.LastAppliedRevision)
		}
		return nil
	})
	if c := ready(got); c.Reason != meta.ReconciliationSucceededReason || c.Message != "Applied revision: main@sha1:1111" {
		t.Errorf("ready = %+v", c)
	}
	if got.Status.Inventory == nil || len(got.Status.Inventory.Entries) != 1 ||
		got.Status.Inventory.Entries[0] != (kustomizev1.ResourceRef{ID: "apps-follow_web__ConfigMap", Version: "v1"}) {
		t.Errorf("inventory = %+v", got.Status.Inventory)
	}
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(testenv.Context(t), types.NamespacedName{Namespace: "apps-follow", Name: "web"}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["value"] != "v1" || cm.Labels[kustomizev1.NameLabel] != "web" || cm.Labels[kustomizev1.NamespaceLabel] != "default" {
		t.Errorf("configmap = %+v", cm.ObjectMeta)
	}
	managed := false
	for _, f := range cm.ManagedFields {
		if f.Manager == "kustomize-controller" && f.Operation == metav1.ManagedFieldsOperationApply {
			managed = true
		}
	}
	if !managed {
		t.Errorf("not applied server-side by kustomize-controller: %+v", cm.ManagedFields)
	}

	// A new artifact revision is applied without waiting for the interval or a request.
	files["apps/web/config.yaml"] = configMap("web", "apps-follow", "v2")
	setArtifact(t, src, artifacts.publish(t, "follow", "main@sha1:2222", files))
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(testenv.Context(t), types.NamespacedName{Namespace: "apps-follow", Name: "web"}, cm); err != nil {
			return err
		}
		if cm.Data["value"] != "v2" || getKS(t, ks).Status.LastAppliedRevision != "main@sha1:2222" {
			return fmt.Errorf("value %q, lastApplied %q", cm.Data["value"], getKS(t, ks).Status.LastAppliedRevision)
		}
		return nil
	})
}

func TestKustomizationBrokenRevisionKeepsLastState(t *testing.T) {
	namespace(t, "apps-broken")
	files := map[string]string{"app/config.yaml": configMap("app", "apps-broken", "good")}
	src := gitSource(t, "broken", artifacts.publish(t, "broken", "main@sha1:aaaa", files))
	ks := kustomization(t, "broken", "broken", "app")
	testenv.Eventually(t, 30*time.Second, func() error {
		if getKS(t, ks).Status.LastAppliedRevision != "main@sha1:aaaa" {
			return fmt.Errorf("not applied")
		}
		return nil
	})

	files["app/config.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: [broken\n"
	setArtifact(t, src, artifacts.publish(t, "broken", "main@sha1:bbbb", files))
	var got *kustomizev1.Kustomization
	testenv.Eventually(t, 30*time.Second, func() error {
		got = getKS(t, ks)
		if c := ready(got); c == nil || c.Status != metav1.ConditionFalse || c.Reason != meta.BuildFailedReason {
			return fmt.Errorf("ready = %+v", c)
		}
		return nil
	})
	if got.Status.LastAppliedRevision != "main@sha1:aaaa" || got.Status.LastAttemptedRevision != "main@sha1:bbbb" {
		t.Errorf("lastApplied %q lastAttempted %q", got.Status.LastAppliedRevision, got.Status.LastAttemptedRevision)
	}
	if !strings.Contains(ready(got).Message, "kustomize build failed") {
		t.Errorf("message = %q", ready(got).Message)
	}
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(testenv.Context(t), types.NamespacedName{Namespace: "apps-broken", Name: "app"}, cm); err != nil || cm.Data["value"] != "good" {
		t.Fatalf("last good state lost: %v %v", cm.Data, err)
	}
}

func TestKustomizationWaitsForItsSource(t *testing.T) {
	ks := kustomization(t, "orphan", "not-yet", "./")
	testenv.Eventually(t, 30*time.Second, func() error {
		c := ready(getKS(t, ks))
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != meta.ArtifactFailedReason || !strings.Contains(c.Message, "not found") {
			return fmt.Errorf("ready = %+v", c)
		}
		return nil
	})
	namespace(t, "apps-late")
	gitSource(t, "not-yet", artifacts.publish(t, "not-yet", "main@sha1:cccc", map[string]string{"cm.yaml": configMap("late", "apps-late", "x")}))
	testenv.Eventually(t, 30*time.Second, func() error {
		if c := ready(getKS(t, ks)); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("ready = %+v", c)
		}
		return nil
	})
}
