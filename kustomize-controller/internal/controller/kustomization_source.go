package controller

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// sourceIndexKey indexes Kustomizations by '<kind>/<namespace>/<name>' of their source.
const sourceIndexKey = ".spec.sourceRef"

func sourceKey(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

func indexSource(o client.Object) []string {
	ks := o.(*kustomizev1.Kustomization)
	ns := ks.Spec.SourceRef.Namespace
	if ns == "" {
		ns = ks.Namespace
	}
	return []string{sourceKey(ks.Spec.SourceRef.Kind, ns, ks.Spec.SourceRef.Name)}
}

// artifactSource is a source kind with an artifact.
type artifactSource interface {
	client.Object
	GetArtifact() *meta.Artifact
}

// referrers maps a source to the Kustomizations that use it.
func (r *KustomizationReconciler) referrers(ctx context.Context, o client.Object) []reconcile.Request {
	kind := ""
	switch o.(type) {
	case *sourcev1.GitRepository:
		kind = sourcev1.GitRepositoryKind
	case *sourcev1.OCIRepository:
		kind = sourcev1.OCIRepositoryKind
	case *sourcev1.Bucket:
		kind = sourcev1.BucketKind
	case *sourcev1.ExternalArtifact:
		kind = sourcev1.ExternalArtifactKind
	}
	return r.indexed(ctx, sourceIndexKey, sourceKey(kind, o.GetNamespace(), o.GetName()))
}

// errUnsupportedSource marks a sourceRef kind the controller cannot read.
var errUnsupportedSource = errors.New("source kind is not supported")

// lookupSource returns the artifact of a Kustomization's source: nil with no error when the
// source does not exist or has no artifact yet.
func lookupSource(ctx context.Context, c client.Reader, obj *kustomizev1.Kustomization) (*meta.Artifact, string, error) {
	ref := obj.Spec.SourceRef
	ns := ref.Namespace
	if ns == "" {
		ns = obj.Namespace
	}
	var src artifactSource
	switch ref.Kind {
	case sourcev1.GitRepositoryKind:
		src = &sourcev1.GitRepository{}
	case sourcev1.OCIRepositoryKind:
		src = &sourcev1.OCIRepository{}
	case sourcev1.BucketKind:
		src = &sourcev1.Bucket{}
	case sourcev1.ExternalArtifactKind:
		src = &sourcev1.ExternalArtifact{}
	default:
		return nil, "", fmt.Errorf("%w: '%s'", errUnsupportedSource, ref.Kind)
	}
	key := types.NamespacedName{Namespace: ns, Name: ref.Name}
	name := ref.Kind + "/" + key.String()
	if err := c.Get(ctx, key, src); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("Source '%s' not found", name), nil
		}
		return nil, "", err
	}
	if src.GetArtifact() == nil {
		return nil, fmt.Sprintf("Source '%s' is not ready, artifact not found", name), nil
	}
	return src.GetArtifact(), "", nil
}

// reconcileSource finds the source's artifact. A missing source, or one without an artifact
// yet, is waited for (--requeue-dependency, or at once when its artifact appears).
// Fails with: Waiting (ArtifactFailed), Stalled (ArtifactFailed for an unsupported kind,
// AccessDenied for a forbidden cross-namespace ref).
func (r *KustomizationReconciler) reconcileSource(ctx context.Context, s *kustomizationScope) error {
	obj := s.Object
	if ns := obj.Spec.SourceRef.Namespace; r.NoCrossNamespaceRefs && ns != "" && ns != obj.Namespace {
		return lifecycle.Stalled("", meta.AccessDeniedReason, fmt.Errorf("cannot access %s/%s/%s: cross-namespace references are not allowed (--no-cross-namespace-refs)", obj.Spec.SourceRef.Kind, ns, obj.Spec.SourceRef.Name))
	}
	a, waiting, err := lookupSource(ctx, r.Client, obj)
	switch {
	case errors.Is(err, errUnsupportedSource):
		return lifecycle.Stalled("", meta.ArtifactFailedReason, err)
	case err != nil:
		return err
	case a == nil:
		return lifecycle.Waiting(meta.ArtifactFailedReason, r.RequeueDependency, "%s", waiting)
	}
	obj.Status.LastAttemptedRevision = a.Revision
	s.artifact = a
	return nil
}
