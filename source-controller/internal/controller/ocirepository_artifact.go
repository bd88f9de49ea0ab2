package controller

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/sourceignore"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// reconcileArtifact stores a pulled layer as the new artifact ('<manifest digest hex>.tar.gz',
// the manifest's annotations as its metadata): an extracted layer is packed again with the
// ignore rules applied, a copied one is stored byte for byte. Then 'latest' points at the
// current artifact and superseded ones are collected. A new revision is announced.
// Sets: ArtifactInStorage. Fails with: StorageOperationFailed.
func (r *OCIRepositoryReconciler) reconcileArtifact(ctx context.Context, s *ociScope) error {
	log := ctrl.LoggerFrom(ctx)
	obj := s.Object
	if p := s.pulled; p != nil {
		a := r.Storage.NewArtifact(sourcev1.OCIRepositoryKind, obj.Namespace, obj.Name, s.revision, s.desc.Digest.Encoded()+".tar.gz")
		if err := r.store(&a, p, obj.Spec.Ignore); err != nil {
			return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
		}
		if len(p.annotations) > 0 {
			a.Metadata = maps.Clone(p.annotations)
		}
		previous := obj.Status.Artifact
		obj.Status.Artifact = &a
		obj.Status.ObservedIgnore = obj.Spec.Ignore
		obj.Status.ObservedLayerSelector = obj.Spec.LayerSelector
		if obj.Spec.Verify != nil {
			if err := saveSidecar(r.Storage, a, ociOriginSidecar, s.origin()); err != nil {
				log.Error(err, "recording the verified digest")
			}
		}
		if !previous.HasRevision(a.Revision) {
			s.Announce("NewArtifact", "stored artifact with revision '%s' from '%s'", a.Revision, obj.Spec.URL)
			log.Info("stored artifact", "revision", a.Revision, "digest", a.Digest, "size", *a.Size)
		}
	}
	conditions.Delete(obj, sourcev1.ArtifactOutdatedCondition)

	a := *obj.Status.Artifact
	link, err := publish(ctx, r.Storage, obj, a, latestFile, fmt.Sprintf("stored artifact for digest '%s'", a.Revision))
	if err != nil {
		return err
	}
	obj.Status.URL = link
	return nil
}

// store writes the pulled layer as the artifact a.
func (r *OCIRepositoryReconciler) store(a *meta.Artifact, p *pulledLayer, ignore *string) error {
	if p.dir == "" {
		return r.Storage.Store(a, func(w io.Writer) error {
			f, err := os.Open(p.blob)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		})
	}
	matcher, err := sourceignore.NewMatcher(p.dir, ignore)
	if err != nil {
		return fmt.Errorf("reading ignore rules: %w", err)
	}
	return r.Storage.Archive(a, storage.DirSource(p.dir), matcher.Excluded)
}
