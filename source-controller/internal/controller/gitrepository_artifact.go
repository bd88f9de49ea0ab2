package controller

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// latestFile is the name of the symlink to an object's current artifact.
const latestFile = "latest.tar.gz"

// reconcileArtifact packs a fresh checkout into a new artifact, or confirms the current one,
// then points 'latest' at it and collects superseded artifacts. A new revision is announced.
// Sets: ArtifactInStorage. Fails with: StorageOperationFailed.
func (r *GitRepositoryReconciler) reconcileArtifact(ctx context.Context, s *gitScope) error {
	log := ctrl.LoggerFrom(ctx)
	obj, f := s.Object, s.fetched
	if f.source != nil {
		artifact := r.Storage.NewArtifact(sourcev1.GitRepositoryKind, obj.Namespace, obj.Name, f.target.Revision, f.commit.Hash+".tar.gz")
		if err := r.Storage.Archive(&artifact, f.source, f.exclude); err != nil {
			return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
		}
		previous := obj.Status.Artifact
		obj.Status.Artifact = &artifact
		obj.Status.ObservedIgnore = obj.Spec.Ignore
		obj.Status.ObservedRecurseSubmodules = obj.Spec.RecurseSubmodules
		obj.Status.ObservedSparseCheckout = obj.Spec.SparseCheckout
		obj.Status.ObservedInclude = obj.Spec.Include
		obj.Status.IncludedArtifacts = f.included
		if !previous.HasRevision(artifact.Revision) {
			s.Announce("NewArtifact", "stored artifact for commit '%s'", f.commit.Subject)
			log.Info("stored artifact", "revision", artifact.Revision, "digest", artifact.Digest, "size", *artifact.Size)
		}
	}

	a := *obj.Status.Artifact
	_, err := publish(ctx, r.Storage, obj, a, latestFile, fmt.Sprintf("stored artifact for revision '%s'", a.Revision))
	return err
}

// publish points the object's link (latest.tar.gz, index.yaml, ...) at its current artifact
// a, collects the superseded artifacts, and marks ArtifactInStorage with message; it returns
// the link's URL.
// Fails with: StorageOperationFailed (SymlinkUpdateFailed).
func publish(ctx context.Context, st *storage.Storage, obj conditions.Object, a meta.Artifact, link, message string) (string, error) {
	log := ctrl.LoggerFrom(ctx)
	url, err := st.SetLatest(a, link)
	if err != nil {
		return "", lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.SymlinkUpdateFailedReason, err)
	}
	if deleted, err := st.GarbageCollect(a, time.Now()); err != nil {
		log.Error(err, "garbage collecting old artifacts")
	} else if len(deleted) > 0 {
		log.V(1).Info("garbage collected old artifacts", "count", len(deleted))
	}
	conditions.MarkTrue(obj, sourcev1.ArtifactInStorageCondition, meta.SucceededReason, "%s", message)
	return url, nil
}
