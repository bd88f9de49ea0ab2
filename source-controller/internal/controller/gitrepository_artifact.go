package controller

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// latestFile is the name of the symlink to an object's current artifact.
const latestFile = "latest.tar.gz"

// reconcileArtifact packs a fresh checkout into a new artifact, or confirms the current one,
// then points 'latest' at it and collects superseded artifacts.
// Sets: ArtifactInStorage, StorageOperationFailed, Ready (on success).
func (r *GitRepositoryReconciler) reconcileArtifact(ctx context.Context, obj *sourcev1.GitRepository, f *fetchResult) error {
	log := ctrl.LoggerFrom(ctx)
	if f.source != nil {
		artifact := r.Storage.NewArtifact(sourcev1.GitRepositoryKind, obj.Namespace, obj.Name, f.target.Revision, f.commit.Hash+".tar.gz")
		if err := r.Storage.Archive(&artifact, f.source, f.exclude); err != nil {
			return r.storageFailed(obj, sourcev1.ArchiveOperationFailedReason, err)
		}
		previous := obj.Status.Artifact
		obj.Status.Artifact = &artifact
		obj.Status.ObservedIgnore = obj.Spec.Ignore
		obj.Status.ObservedRecurseSubmodules = obj.Spec.RecurseSubmodules
		obj.Status.ObservedSparseCheckout = obj.Spec.SparseCheckout
		obj.Status.ObservedInclude = obj.Spec.Include
		obj.Status.IncludedArtifacts = f.included
		if !previous.HasRevision(artifact.Revision) {
			r.Events.AnnotatedEventf(obj, map[string]string{sourcev1.GroupVersion.Group + "/revision": artifact.Revision},
				corev1.EventTypeNormal, "NewArtifact", "stored artifact for commit '%s'", f.commit.Subject)
			log.Info("stored artifact", "revision", artifact.Revision, "digest", artifact.Digest, "size", *artifact.Size)
		}
	}

	a := *obj.Status.Artifact
	if _, err := r.Storage.SetLatest(a, latestFile); err != nil {
		return r.storageFailed(obj, sourcev1.SymlinkUpdateFailedReason, err)
	}
	if deleted, err := r.Storage.GarbageCollect(a, time.Now()); err != nil {
		log.Error(err, "garbage collecting old artifacts")
	} else if len(deleted) > 0 {
		log.V(1).Info("garbage collected old artifacts", "count", len(deleted))
	}

	conditions.Delete(obj, sourcev1.StorageOperationFailedCondition)
	conditions.MarkTrue(obj, sourcev1.ArtifactInStorageCondition, meta.SucceededReason, "stored artifact for revision '%s'", a.Revision)
	conditions.MarkTrue(obj, meta.ReadyCondition, meta.SucceededReason, "stored artifact for revision '%s'", a.Revision)
	return nil
}

func (r *GitRepositoryReconciler) storageFailed(obj *sourcev1.GitRepository, reason string, err error) error {
	conditions.MarkTrue(obj, sourcev1.StorageOperationFailedCondition, reason, "%s", err.Error())
	return err
}
