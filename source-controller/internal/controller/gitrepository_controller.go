package controller

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/metrics"
	"github.com/driftless-dev/driftless/pkg/runtime/patch"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// GitRepositoryReconciler fetches GitRepositories and stores their artifacts.
type GitRepositoryReconciler struct {
	client.Client
	Events  *events.Recorder
	Storage *storage.Storage

	// JitterPercent spreads the requeue of each object around its interval.
	JitterPercent uint8
	// MinRetryDelay and MaxRetryDelay bound the backoff after failures.
	MinRetryDelay, MaxRetryDelay time.Duration
	// Concurrent is the number of parallel reconciles.
	Concurrent int
	// TmpDir holds clones while they are packed; the OS default when empty.
	TmpDir string
}

// SetupWithManager registers the reconciler: GitRepositories are reconciled on a new
// generation or a new reconcile request, not on their own status writes.
// A new artifact of an included GitRepository re-triggers the ones that include it.
func (r *GitRepositoryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &sourcev1.GitRepository{}, includeIndexKey, indexIncludes); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&sourcev1.GitRepository{}, builder.WithPredicates(predicates.SpecOrRequest())).
		Watches(&sourcev1.GitRepository{}, handler.EnqueueRequestsFromMapFunc(r.includersOf), builder.WithPredicates(artifactChanged)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Concurrent,
			RateLimiter:             requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
		}).
		Complete(r)
}

// Reconcile brings one GitRepository's artifact up to date with its remote.
func (r *GitRepositoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	obj := &sourcev1.GitRepository{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	oldReady := conditions.Get(obj, meta.ReadyCondition).DeepCopy()
	end := lifecycle.End{
		Patcher: patch.NewStatusPatcher(obj, r.Client), Kind: sourcev1.GitRepositoryKind, Start: start, JitterPercent: r.JitterPercent,
		Summarize: func(err error) {
			summarizeGitRepository(obj, err)
			r.notifyFailure(obj, oldReady)
		},
	}
	defer end.Finish(ctx, obj, &result, &retErr)

	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, obj)
	}
	controllerutil.AddFinalizer(obj, meta.Finalizer)
	if obj.Spec.Suspend {
		ctrl.LoggerFrom(ctx).V(1).Info("reconciliation is suspended")
		return ctrl.Result{}, nil
	}

	rebuild := r.reconcileStorage(ctx, obj)
	tmp, err := newWorkDir(r.TmpDir, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	defer tmp.remove()

	fetched, err := r.reconcileSource(ctx, obj, tmp, rebuild)
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.reconcileArtifact(ctx, obj, fetched)
}

// notifyFailure emits a Warning event when the object becomes not Ready or fails for a new
// reason, not on every retry of the same failure.
func (r *GitRepositoryReconciler) notifyFailure(obj *sourcev1.GitRepository, old *metav1.Condition) {
	ready := conditions.Get(obj, meta.ReadyCondition)
	if ready == nil || ready.Status != metav1.ConditionFalse {
		return
	}
	if old != nil && old.Status == ready.Status && old.Reason == ready.Reason && old.Message == ready.Message {
		return
	}
	r.Events.Event(obj, corev1.EventTypeWarning, ready.Reason, ready.Message)
}

// reconcileDelete removes the object's artifacts and then its finalizer.
func (r *GitRepositoryReconciler) reconcileDelete(ctx context.Context, obj *sourcev1.GitRepository) error {
	if err := r.Storage.RemoveAll(sourcev1.GitRepositoryKind, obj.Namespace, obj.Name); err != nil {
		return err
	}
	metrics.Forget(sourcev1.GitRepositoryKind, obj.Namespace, obj.Name)
	controllerutil.RemoveFinalizer(obj, meta.Finalizer)
	ctrl.LoggerFrom(ctx).Info("removed artifacts of deleted GitRepository")
	return nil
}
