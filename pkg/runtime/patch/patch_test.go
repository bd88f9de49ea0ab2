package patch_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/patch"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

var env *testenv.Environment

func TestMain(m *testing.M) {
	testenv.Main(m, &env, testenv.WithScheme(sourcev1.AddToScheme))
}

func newGitRepository(t *testing.T, name string) *sourcev1.GitRepository {
	t.Helper()
	obj := &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: sourcev1.GitRepositorySpec{
			URL:      "https://example.com/repo.git",
			Interval: meta.Duration{Duration: 60e9},
		},
	}
	if err := env.Client.Create(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestPatchWritesFinalizerAndStatusTogether(t *testing.T) {
	ctx := testenv.Context(t)
	obj := newGitRepository(t, "patch-both")

	p := patch.NewStatusPatcher(obj, env.Client)
	controllerutil.AddFinalizer(obj, meta.Finalizer)
	conditions.MarkTrue(obj, meta.ReadyCondition, meta.SucceededReason, "stored artifact")
	obj.Status.ObservedGeneration = obj.Generation
	if err := p.Patch(ctx, obj); err != nil {
		t.Fatal(err)
	}

	got := &sourcev1.GitRepository{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
		t.Fatal(err)
	}
	if !controllerutil.ContainsFinalizer(got, meta.Finalizer) {
		t.Errorf("finalizer not written: %v", got.Finalizers)
	}
	if !conditions.IsReady(got) || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("status not written: %+v", got.Status)
	}
	// The in-memory object must still hold the desired status after the metadata patch.
	if !conditions.IsReady(obj) {
		t.Errorf("in-memory status lost after patch: %+v", obj.Status)
	}
}

func TestPatchSendsNothingWhenNothingChanged(t *testing.T) {
	ctx := testenv.Context(t)
	obj := newGitRepository(t, "patch-noop")
	rv := obj.ResourceVersion

	p := patch.NewStatusPatcher(obj, env.Client)
	if err := p.Patch(ctx, obj); err != nil {
		t.Fatal(err)
	}
	got := &sourcev1.GitRepository{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != rv {
		t.Fatalf("a no-change patch wrote the object: resourceVersion %s -> %s", rv, got.ResourceVersion)
	}
}

func TestPatchTwiceInOneReconcile(t *testing.T) {
	ctx := testenv.Context(t)
	obj := newGitRepository(t, "patch-twice")

	p := patch.NewStatusPatcher(obj, env.Client)
	conditions.MarkReconciling(obj, meta.ProgressingReason, "fetching")
	if err := p.Patch(ctx, obj); err != nil {
		t.Fatal(err)
	}
	conditions.Delete(obj, meta.ReconcilingCondition)
	conditions.MarkFalse(obj, meta.ReadyCondition, sourcev1.GitOperationFailedReason, "clone failed")
	if err := p.Patch(ctx, obj); err != nil {
		t.Fatal(err)
	}

	got := &sourcev1.GitRepository{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
		t.Fatal(err)
	}
	if conditions.Has(got, meta.ReconcilingCondition) {
		t.Errorf("Reconciling should have been removed: %+v", got.Status.Conditions)
	}
	if conditions.GetReason(got, meta.ReadyCondition) != sourcev1.GitOperationFailedReason {
		t.Errorf("Ready not written: %+v", got.Status.Conditions)
	}
}
