package predicates

import (
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// ReconcileRequested passes updates that change the reconcile.fluxcd.io/requestedAt annotation
// to a new, non-empty value.
type ReconcileRequested struct {
	predicate.Funcs
}

// Update implements predicate.Predicate.
func (ReconcileRequested) Update(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return false
	}
	newValue, ok := meta.ReconcileAnnotationValue(e.ObjectNew.GetAnnotations())
	if !ok || newValue == "" {
		return false
	}
	oldValue, _ := meta.ReconcileAnnotationValue(e.ObjectOld.GetAnnotations())
	return newValue != oldValue
}

// Create passes nothing; creation is handled by the generation predicate.
func (ReconcileRequested) Create(event.CreateEvent) bool { return false }

// Delete passes nothing; deletion is handled by the generation predicate.
func (ReconcileRequested) Delete(event.DeleteEvent) bool { return false }

// Generic passes nothing.
func (ReconcileRequested) Generic(event.GenericEvent) bool { return false }

// SpecOrRequest is the predicate of every reconciled kind: a new generation, or a new
// reconcile request.
func SpecOrRequest() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, ReconcileRequested{})
}
