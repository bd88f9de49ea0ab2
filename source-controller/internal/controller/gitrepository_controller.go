package controller

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// GitRepositoryReconciler fetches GitRepositories and stores their artifacts.
type GitRepositoryReconciler struct {
	client.Client
	// APIReader reads Secrets from the API server: a cache of them would hold every Secret in
	// the cluster.
	APIReader client.Reader
	Events    *events.Recorder
	Storage   *storage.Storage

	// JitterPercent spreads the requeue of each object around its interval.
	JitterPercent uint8
	// MinRetryDelay and MaxRetryDelay bound the backoff after failures.
	MinRetryDelay, MaxRetryDelay time.Duration
	// Concurrent is the number of parallel reconciles.
	Concurrent int
	// TmpDir holds clones while they are packed; the OS default when empty.
	TmpDir string

	runtime *lifecycle.Reconciler[*sourcev1.GitRepository, *gitScope]
}

// gitScope is what one reconcile's steps find and pass on.
type gitScope struct {
	*lifecycle.Scope[*sourcev1.GitRepository]
	// rebuild is set when the stored artifact is missing or corrupt.
	rebuild bool
	// included are the current artifacts of spec.include, in order.
	included []*meta.Artifact
	// tmp is the reconcile's scratch directory, removed when it ends.
	tmp *workDir
	// fetched is what reconcileSource hands to reconcileArtifact.
	fetched *fetchResult
}

// SetupWithManager registers the reconciler: GitRepositories are reconciled on a new
// generation or a new reconcile request, not on their own status writes.
// A new artifact of an included GitRepository re-triggers the ones that include it.
func (r *GitRepositoryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &sourcev1.GitRepository{}, includeIndexKey, indexIncludes); err != nil {
		return err
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.runtime = &lifecycle.Reconciler[*sourcev1.GitRepository, *gitScope]{
		Client: r.Client,
		Events: r.Events,
		Policy: gitRepositoryPolicy,
		New:    func() *sourcev1.GitRepository { return &sourcev1.GitRepository{} },
		NewScope: func(s *lifecycle.Scope[*sourcev1.GitRepository]) *gitScope {
			return &gitScope{Scope: s}
		},
		Steps: []lifecycle.Step[*gitScope]{
			{Run: r.reconcileStorage},
			{Run: r.reconcileIncludes, Owns: []string{sourcev1.IncludeUnavailableCondition}},
			{Run: r.reconcileSource, Owns: []string{sourcev1.FetchFailedCondition, sourcev1.IncludeUnavailableCondition}},
			{Run: r.reconcileArtifact, Owns: []string{sourcev1.StorageOperationFailedCondition}},
		},
		Finalize:      r.reconcileDelete,
		Release:       func(s *gitScope) { s.tmp.remove() },
		JitterPercent: r.JitterPercent,
		RateLimiter:   requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&sourcev1.GitRepository{}, builder.WithPredicates(predicates.SpecOrRequest())).
		Watches(&sourcev1.GitRepository{}, handler.EnqueueRequestsFromMapFunc(r.includersOf), builder.WithPredicates(artifactChanged)).
		WithOptions(r.runtime.ControllerOptions(r.Concurrent)).
		Complete(r)
}

// Reconcile brings one GitRepository's artifact up to date with its remote.
func (r *GitRepositoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.runtime.Reconcile(ctx, req)
}

// reconcileDelete removes the object's artifacts; the runtime then releases the finalizer.
func (r *GitRepositoryReconciler) reconcileDelete(ctx context.Context, s *gitScope) error {
	obj := s.Object
	if err := r.Storage.RemoveAll(sourcev1.GitRepositoryKind, obj.Namespace, obj.Name); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("removed artifacts of deleted GitRepository")
	return nil
}
