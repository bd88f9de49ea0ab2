package predicates

import (
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// artifactHolder is a source kind with a status.artifact.
type artifactHolder interface {
	GetArtifact() *meta.Artifact
}

// ArtifactUpdated says whether an update gave a source a new artifact: one where there was
// none, or of another revision or digest. Losing the artifact is not a new one.
func ArtifactUpdated(e event.UpdateEvent) bool {
	o, okOld := e.ObjectOld.(artifactHolder)
	n, okNew := e.ObjectNew.(artifactHolder)
	if !okOld || !okNew || n.GetArtifact() == nil {
		return false
	}
	before, after := o.GetArtifact(), n.GetArtifact()
	return before == nil || before.Revision != after.Revision || before.Digest != after.Digest
}

// ArtifactChanged passes a source's creation and the updates that give it a new artifact
// (ArtifactUpdated): what makes its consumers reconcile at once.
func ArtifactChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return true },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc:  ArtifactUpdated,
	}
}
