package controller

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"github.com/fluxcd/pkg/ssa"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/patch"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// KustomizationReconciler builds Kustomizations from their sources' artifacts and applies
// the result with server-side apply.
type KustomizationReconciler struct {
	client.Client
	Events    *events.Recorder
	Artifacts *artifact.Cache
	Resources *ssa.ResourceManager

	JitterPercent                uint8
	MinRetryDelay, MaxRetryDelay time.Duration
	RequeueDependency            time.Duration
	Concurrent                   int
}

// SetupWithManager registers the reconciler. Sources are watched through an index on
// spec.sourceRef, so that a new artifact revision reconciles its Kustomizations at once.
func (r *KustomizationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &kustomizev1.Kustomization{}, sourceIndexKey, indexSource); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&kustomizev1.Kustomization{}, builder.WithPredicates(predicates.SpecOrRequest()))
	for _, src := range []client.Object{&sourcev1.GitRepository{}, &sourcev1.OCIRepository{}, &sourcev1.Bucket{}} {
		b = b.Watches(src, handler.EnqueueRequestsFromMapFunc(r.referrers), builder.WithPredicates(revisionChanged))
	}
	return b.WithOptions(controller.Options{
		MaxConcurrentReconciles: r.Concurrent,
		RateLimiter:             requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}).Complete(r)
}

// Reconcile makes the cluster match one Kustomization's build.
func (r *KustomizationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	obj := &kustomizev1.Kustomization{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	end := lifecycle.End{
		Patcher: patch.NewStatusPatcher(obj, r.Client), Kind: kustomizev1.KustomizationKind, Start: start, JitterPercent: r.JitterPercent,
		Summarize: func(err error) { summarize(obj, err) },
	}
	defer end.Finish(ctx, obj, &result, &retErr)

	if !obj.DeletionTimestamp.IsZero() {
		// Garbage collection of the inventory arrives with pruning.
		controllerutil.RemoveFinalizer(obj, meta.Finalizer)
		return ctrl.Result{}, nil
	}
	controllerutil.AddFinalizer(obj, meta.Finalizer)
	if obj.Spec.Suspend {
		return ctrl.Result{}, nil
	}

	src, err := r.reconcileSource(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	if src == nil { // not ready yet: reported in the status, retried after --requeue-dependency
		return ctrl.Result{RequeueAfter: r.RequeueDependency}, nil
	}
	return ctrl.Result{}, r.reconcileApply(ctx, obj, src)
}
