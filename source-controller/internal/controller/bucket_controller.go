package controller

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// DefaultBucketFetches bounds the objects of one Bucket downloaded at once.
const DefaultBucketFetches = 16

// BucketReconciler follows S3-compatible buckets: it lists the objects under spec.prefix, and
// when their index (key and ETag of each) differs from the stored artifact's, downloads the
// objects whose ETag changed into a mirror kept next to the artifacts, and packs the mirror.
type BucketReconciler struct {
	client.Client
	// APIReader reads Secrets from the API server, uncached.
	APIReader client.Reader
	Events    *events.Recorder
	Storage   *storage.Storage
	// MaxFetches bounds the parallel downloads of one Bucket; DefaultBucketFetches when zero.
	MaxFetches int

	JitterPercent                uint8
	MinRetryDelay, MaxRetryDelay time.Duration
	Concurrent                   int

	runtime *lifecycle.Reconciler[*sourcev1.Bucket, *bucketScope]
}

// bucketScope is what one reconcile's steps find and pass on.
type bucketScope struct {
	*lifecycle.Scope[*sourcev1.Bucket]
	rebuild bool
	// revision is the digest of the listed index.
	revision string
	// synced is the mirror to pack, empty when the stored artifact is current.
	synced string
	// fetched counts the objects downloaded.
	fetched int
}

var bucketPolicy = &lifecycle.Policy[*sourcev1.Bucket]{
	Kind:  sourcev1.BucketKind,
	Group: sourcev1.GroupVersion.Group,
	Conditions: []string{
		sourcev1.ArtifactInStorageCondition, sourcev1.ArtifactOutdatedCondition,
		sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition,
	},
	Negative:     []string{sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition},
	FailedReason: meta.FailedReason,
	Ready: func(obj *sourcev1.Bucket) (string, string) {
		return meta.SucceededReason, fmt.Sprintf("stored artifact for revision '%s'", bucketRevision(obj))
	},
	Revision: bucketRevision,
}

func bucketRevision(obj *sourcev1.Bucket) string {
	if obj.Status.Artifact == nil {
		return ""
	}
	return obj.Status.Artifact.Revision
}

// SetupWithManager registers the reconciler: Buckets are reconciled on a new generation or a
// new reconcile request, not on their own status writes.
func (r *BucketReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.MaxFetches <= 0 {
		r.MaxFetches = DefaultBucketFetches
	}
	r.runtime = &lifecycle.Reconciler[*sourcev1.Bucket, *bucketScope]{
		Client:   r.Client,
		Events:   r.Events,
		Policy:   bucketPolicy,
		New:      func() *sourcev1.Bucket { return &sourcev1.Bucket{} },
		NewScope: func(s *lifecycle.Scope[*sourcev1.Bucket]) *bucketScope { return &bucketScope{Scope: s} },
		Steps: []lifecycle.Step[*bucketScope]{
			{Run: r.reconcileStorage},
			{Run: r.reconcileSource, Owns: []string{sourcev1.FetchFailedCondition}},
			{Run: r.reconcileArtifact, Owns: []string{sourcev1.StorageOperationFailedCondition}},
		},
		Finalize:      r.reconcileDelete,
		JitterPercent: r.JitterPercent,
		RateLimiter:   requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&sourcev1.Bucket{}, builder.WithPredicates(predicates.SpecOrRequest())).
		WithOptions(r.runtime.ControllerOptions(r.Concurrent)).
		Complete(r)
}

// Reconcile brings one Bucket's artifact up to date with its objects.
func (r *BucketReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.runtime.Reconcile(ctx, req)
}

// reconcileStorage checks the recorded artifact against storage; a missing or corrupt one is
// made again.
// Sets: ArtifactInStorage (False while it is made again).
func (r *BucketReconciler) reconcileStorage(ctx context.Context, s *bucketScope) error {
	s.rebuild = checkStored(ctx, r.Storage, s.Object, &s.Object.Status.Artifact, "fetching the bucket again")
	return nil
}

// reconcileArtifact packs the synced mirror into the new artifact ('<revision hex>.tar.gz'),
// or confirms the current one; then points 'latest' at it and collects superseded ones.
// Sets: ArtifactInStorage. Fails with: StorageOperationFailed.
func (r *BucketReconciler) reconcileArtifact(ctx context.Context, s *bucketScope) error {
	log := ctrl.LoggerFrom(ctx)
	obj := s.Object
	if s.synced != "" {
		a := r.Storage.NewArtifact(sourcev1.BucketKind, obj.Namespace, obj.Name, s.revision, digestHex(s.revision)+".tar.gz")
		if err := r.Storage.Archive(&a, storage.DirSource(s.synced), nil); err != nil {
			return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
		}
		previous := obj.Status.Artifact
		obj.Status.Artifact = &a
		obj.Status.ObservedIgnore = obj.Spec.Ignore
		if !previous.HasRevision(a.Revision) {
			s.Announce("NewArtifact", "stored artifact with %d fetched files from '%s' bucket", s.fetched, obj.Spec.BucketName)
			log.Info("stored artifact", "revision", a.Revision, "digest", a.Digest, "size", *a.Size, "fetched", s.fetched)
		}
	}
	conditions.Delete(obj, sourcev1.ArtifactOutdatedCondition)
	a := *obj.Status.Artifact
	link, err := publish(ctx, r.Storage, obj, a, latestFile, fmt.Sprintf("stored artifact for revision '%s'", a.Revision))
	if err != nil {
		return err
	}
	obj.Status.URL = link
	return nil
}

// reconcileDelete removes the object's artifacts and mirror; the runtime then releases the
// finalizer.
func (r *BucketReconciler) reconcileDelete(ctx context.Context, s *bucketScope) error {
	obj := s.Object
	if err := r.Storage.RemoveAll(sourcev1.BucketKind, obj.Namespace, obj.Name); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("removed artifacts of deleted Bucket")
	return nil
}
