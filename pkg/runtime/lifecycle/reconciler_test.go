package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

var env *testenv.Environment

func TestMain(m *testing.M) {
	testenv.Main(m, &env, testenv.WithScheme(sourcev1.AddToScheme))
}

// scope is the test kind's scope: what its first step found, for the second.
type scope struct {
	*lifecycle.Scope[*sourcev1.GitRepository]
	revision string
}

// harness is a skeleton for GitRepositories whose steps do what the test says.
type harness struct {
	r *lifecycle.Reconciler[*sourcev1.GitRepository, *scope]

	mu sync.Mutex
	// fetch and store are the outcomes of the two steps in the next reconcile.
	fetch, store error
	ran          []string
	forgotten    []types.NamespacedName
	finalized    int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	rec := events.NewRecorder(env.EventRecorder(t, "source-controller"), env.Scheme, "source-controller", nil, logr.Discard())

	h := &harness{}
	h.r = &lifecycle.Reconciler[*sourcev1.GitRepository, *scope]{
		Client: env.Client,
		Events: rec,
		Policy: &lifecycle.Policy[*sourcev1.GitRepository]{
			Kind: sourcev1.GitRepositoryKind, Group: sourcev1.GroupVersion.Group,
			Conditions:   []string{sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition},
			Negative:     []string{sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition},
			FailedReason: meta.FailedReason,
			Ready: func(o *sourcev1.GitRepository) (string, string) {
				return meta.SucceededReason, "stored artifact for revision '" + o.Status.Artifact.Revision + "'"
			},
			Revision: func(o *sourcev1.GitRepository) string {
				if o.Status.Artifact == nil {
					return ""
				}
				return o.Status.Artifact.Revision
			},
			RetryInterval: func(*sourcev1.GitRepository) time.Duration { return 3 * time.Second },
		},
		New:      func() *sourcev1.GitRepository { return &sourcev1.GitRepository{} },
		NewScope: func(s *lifecycle.Scope[*sourcev1.GitRepository]) *scope { return &scope{Scope: s} },
		Steps: []lifecycle.Step[*scope]{{
			Run: func(_ context.Context, s *scope) error {
				h.mu.Lock()
				defer h.mu.Unlock()
				h.ran = append(h.ran, "fetch")
				s.revision = "main@sha1:0001"
				return h.fetch
			},
			Owns: []string{sourcev1.FetchFailedCondition},
		}, {
			Run: func(_ context.Context, s *scope) error {
				h.mu.Lock()
				defer h.mu.Unlock()
				h.ran = append(h.ran, "store")
				if h.store != nil {
					return h.store
				}
				if !s.Object.Status.Artifact.HasRevision(s.revision) {
					s.Announce("NewArtifact", "stored artifact for commit '%s'", "add app")
				}
				s.Object.Status.Artifact = &meta.Artifact{
					Path: "gitrepository/default/x/0001.tar.gz", URL: "http://127.0.0.1/gitrepository/default/x/0001.tar.gz",
					Revision: s.revision, Digest: "sha256:0001", LastUpdateTime: metav1.Now(),
				}
				return nil
			},
			Owns: []string{sourcev1.StorageOperationFailedCondition},
		}},
		Finalize: func(context.Context, *scope) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.finalized++
			return nil
		},
		Forget: func(key types.NamespacedName) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.forgotten = append(h.forgotten, key)
		},
		RateLimiter: requeue.NewRateLimiter(time.Second, time.Hour),
	}
	return h
}

func (h *harness) set(fetch, store error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fetch, h.store, h.ran = fetch, store, nil
}

func (h *harness) steps() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.ran, ",")
}

func (h *harness) reconcile(t *testing.T, obj client.Object) (ctrl.Result, error) {
	t.Helper()
	return h.r.Reconcile(testenv.Context(t), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
}

func create(t *testing.T, name string) *sourcev1.GitRepository {
	t.Helper()
	obj := &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       sourcev1.GitRepositorySpec{URL: "https://example.com/repo.git", Interval: meta.Duration{Duration: time.Minute}},
	}
	if err := env.Client.Create(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func get(t *testing.T, obj *sourcev1.GitRepository) *sourcev1.GitRepository {
	t.Helper()
	got := &sourcev1.GitRepository{}
	if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(obj), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// eventsOf counts the events of obj by type, reason and message.
func eventsOf(t *testing.T, obj client.Object) map[string]int32 {
	t.Helper()
	list := &corev1.EventList{}
	if err := env.Client.List(testenv.Context(t), list, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatal(err)
	}
	out := map[string]int32{}
	for _, e := range list.Items {
		if e.InvolvedObject.Name == obj.GetName() {
			out[e.Type+" "+e.Reason+" "+e.Message] += e.Count
		}
	}
	return out
}

// waitEvents waits until obj's events are exactly want.
func waitEvents(t *testing.T, obj client.Object, want map[string]int32) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		got := eventsOf(t, obj)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("events = %v, want %v", got, want)
		}
		return nil
	})
}

func TestSkeletonSuccessFailureAndRecovery(t *testing.T) {
	h := newHarness(t)
	obj := create(t, "skeleton")

	// Success: the finalizer and status in one reconcile, requeued at the interval.
	res, err := h.reconcile(t, obj)
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != time.Minute {
		t.Errorf("requeue after %v, want the interval (no jitter configured)", res.RequeueAfter)
	}
	got := get(t, obj)
	if !controllerutil.ContainsFinalizer(got, meta.Finalizer) || !conditions.IsReady(got) || got.Status.ObservedGeneration != got.Generation {
		t.Fatalf("after success: finalizers %v, status %+v", got.Finalizers, got.Status)
	}
	if msg := conditions.GetMessage(got, meta.ReadyCondition); msg != "stored artifact for revision 'main@sha1:0001'" {
		t.Errorf("Ready message %q", msg)
	}

	// A failure in the first step: its condition, Ready and Reconciling say so, the second
	// step does not run, the error is returned for the backoff.
	h.set(lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.GitOperationFailedReason, errors.New("connection refused")), nil)
	if _, err := h.reconcile(t, obj); err == nil || errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("a failure returned %v, want a retryable error", err)
	}
	if h.steps() != "fetch" {
		t.Errorf("steps run: %s", h.steps())
	}
	got = get(t, obj)
	if c := conditions.Get(got, sourcev1.FetchFailedCondition); c == nil || c.Status != "True" || c.Message != "connection refused" {
		t.Errorf("FetchFailed = %+v", c)
	}
	if c := conditions.Get(got, meta.ReconcilingCondition); c == nil || c.Reason != meta.ProgressingWithRetryReason {
		t.Errorf("Reconciling = %+v", c)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration was reset: %d", got.Status.ObservedGeneration)
	}
	// The backoff is capped at the retry interval (3s): 1s, 2s, 3s, 3s.
	key := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)}
	var delays []time.Duration
	for range 4 {
		delays = append(delays, h.r.RateLimiter.When(key))
	}
	if fmt.Sprint(delays) != "[1s 2s 3s 3s]" {
		t.Errorf("backoff = %v", delays)
	}

	// The same failure again: no second Warning.
	if _, err := h.reconcile(t, obj); err == nil {
		t.Fatal("no error")
	}
	// A failure in the second step: the first step's condition is cleared, the second's set.
	h.set(nil, lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, errors.New("disk full")))
	if _, err := h.reconcile(t, obj); err == nil {
		t.Fatal("no error")
	}
	got = get(t, obj)
	if conditions.Has(got, sourcev1.FetchFailedCondition) || !conditions.IsTrue(got, sourcev1.StorageOperationFailedCondition) {
		t.Errorf("conditions after a storage failure: %+v", got.Status.Conditions)
	}
	if c := conditions.Get(got, meta.ReadyCondition); c.Reason != sourcev1.ArchiveOperationFailedReason {
		t.Errorf("Ready = %+v", c)
	}

	// Recovery: every failure condition gone, a Normal event.
	h.set(nil, nil)
	if _, err := h.reconcile(t, obj); err != nil {
		t.Fatal(err)
	}
	got = get(t, obj)
	if !conditions.IsReady(got) || conditions.Has(got, sourcev1.StorageOperationFailedCondition) || conditions.Has(got, meta.ReconcilingCondition) {
		t.Errorf("after recovery: %+v", got.Status.Conditions)
	}
	recovered := recoveredMessage(t, obj)
	waitEvents(t, obj, map[string]int32{
		"Normal NewArtifact stored artifact for commit 'add app'": 1,
		"Warning GitOperationFailed connection refused":           1,
		"Warning ArchiveOperationFailed disk full":                1,
		"Normal ReconciliationSucceeded " + recovered:             1,
	})
}

// recoveredMessage finds the recovery event's message, whose duration varies.
func recoveredMessage(t *testing.T, obj client.Object) string {
	t.Helper()
	var msg string
	testenv.Eventually(t, 20*time.Second, func() error {
		for k := range eventsOf(t, obj) {
			if m, ok := strings.CutPrefix(k, "Normal ReconciliationSucceeded "); ok {
				msg = m
				return nil
			}
		}
		return fmt.Errorf("no recovery event")
	})
	if !strings.HasPrefix(msg, "Reconciliation finished in ") || !strings.HasSuffix(msg, ", next run in 1m0s") {
		t.Errorf("recovery message %q", msg)
	}
	return msg
}

func TestSkeletonWaitStallAndProgress(t *testing.T) {
	h := newHarness(t)
	obj := create(t, "skeleton-outcomes")

	h.set(lifecycle.Waiting(meta.DependencyNotReadyReason, 5*time.Second, "dependency '%s' is not ready", "default/a"), nil)
	res, err := h.reconcile(t, obj)
	if err != nil || res.RequeueAfter != 5*time.Second {
		t.Fatalf("waiting: %v, %v", res, err)
	}
	got := get(t, obj)
	if c := conditions.Get(got, meta.ReadyCondition); c.Status != "False" || c.Reason != meta.DependencyNotReadyReason || conditions.Has(got, meta.ReconcilingCondition) {
		t.Errorf("waiting: %+v", got.Status.Conditions)
	}

	h.set(lifecycle.Progressing("", 2*time.Second, "running health checks"), nil)
	res, err = h.reconcile(t, obj)
	if err != nil || res.RequeueAfter != 2*time.Second {
		t.Fatalf("progressing: %v, %v", res, err)
	}
	got = get(t, obj)
	if c := conditions.Get(got, meta.ReadyCondition); c.Status != "Unknown" || !conditions.IsTrue(got, meta.ReconcilingCondition) {
		t.Errorf("progressing: %+v", got.Status.Conditions)
	}

	h.set(lifecycle.Stalled("", meta.InvalidURLReason, errors.New("spec.url: https://user:pw@host/r?t=1 is not a repository")), nil)
	_, err = h.reconcile(t, obj)
	if !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("a stall returned %v, want a terminal error", err)
	}
	if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "t=1") {
		t.Errorf("the returned error, which controller-runtime logs, is not redacted: %v", err)
	}
	got = get(t, obj)
	if !conditions.IsTrue(got, meta.StalledCondition) || conditions.Has(got, meta.ReconcilingCondition) || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("stalled: %+v", got.Status)
	}
	// Waiting and progressing are not failures: the only Warning is the stall's.
	waitEvents(t, obj, map[string]int32{"Warning InvalidURL spec.url: https://host/r is not a repository": 1})
}

func TestSkeletonSuspendDeleteAndGone(t *testing.T) {
	h := newHarness(t)
	obj := create(t, "skeleton-suspend")
	if _, err := h.reconcile(t, obj); err != nil {
		t.Fatal(err)
	}
	ready := get(t, obj)

	// Suspended: no step runs, the status stays as it was, the object is forgotten.
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suspend":true}}`))
	if err := env.Client.Patch(testenv.Context(t), obj, patch); err != nil {
		t.Fatal(err)
	}
	h.set(errors.New("must not run"), nil)
	res, err := h.reconcile(t, obj)
	if err != nil || res.RequeueAfter != 0 {
		t.Fatalf("suspended: %v, %v", res, err)
	}
	if h.steps() != "" {
		t.Errorf("steps ran while suspended: %s", h.steps())
	}
	if got := get(t, obj); !equality.Semantic.DeepEqual(got.Status, ready.Status) {
		t.Errorf("the status changed while suspended:\n%+v\n%+v", got.Status, ready.Status)
	}

	// Deleted: finalized, the finalizer released, forgotten; then gone: forgotten again.
	if err := env.Client.Delete(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(t, obj); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(obj), &sourcev1.GitRepository{}); err == nil {
		t.Fatal("the object is still there: the finalizer was not removed")
	}
	if _, err := h.reconcile(t, obj); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	key := client.ObjectKeyFromObject(obj)
	if h.finalized != 1 || fmt.Sprint(h.forgotten) != fmt.Sprint([]types.NamespacedName{key, key, key}) {
		t.Errorf("finalized %d times, forgotten %v", h.finalized, h.forgotten)
	}
}

// A failure whose message is longer than the CRDs accept (a health timeout naming hundreds of
// objects) still gets its status written, cut to fit, instead of a refused patch.
func TestSkeletonWritesTheStatusOfAHugeFailure(t *testing.T) {
	h := newHarness(t)
	obj := create(t, "skeleton-huge")
	h.set(lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.GitOperationFailedReason, errors.New(strings.Repeat("x", 100_000))), nil)
	_, err := h.reconcile(t, obj)
	if err == nil || strings.Contains(err.Error(), "patching") {
		t.Fatalf("reconcile returned %v, want the failure alone", err)
	}
	got := get(t, obj)
	c := conditions.Get(got, meta.ReadyCondition)
	if c == nil || c.Status != "False" || len(c.Message) > conditions.MaxMessageLength || !strings.HasSuffix(c.Message, "(truncated)") {
		t.Fatalf("Ready = %v", c)
	}
}
