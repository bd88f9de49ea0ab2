package controller

import (
	"errors"

	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
)

// summarize computes the final status of a reconcile in one place.
func summarize(obj *kustomizev1.Kustomization, reconcileErr error) {
	switch {
	case reconcileErr == nil && conditions.IsReady(obj):
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.Delete(obj, meta.StalledCondition)
	case errors.Is(reconcileErr, reconcile.TerminalError(nil)):
		conditions.Delete(obj, meta.ReconcilingCondition)
	case reconcileErr != nil:
		conditions.Delete(obj, meta.StalledCondition)
		conditions.MarkReconciling(obj, meta.ProgressingWithRetryReason, "%s", conditions.GetMessage(obj, meta.ReadyCondition))
	case conditions.IsUnknown(obj, meta.ReadyCondition):
		// Waiting for health: Reconciling says for what and until when.
		conditions.Delete(obj, meta.StalledCondition)
	default:
		// Waiting for the source or a dependency: Ready says which; nothing is in progress.
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.Delete(obj, meta.StalledCondition)
	}
	if reconcileErr != nil && !conditions.IsFalse(obj, meta.ReadyCondition) {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.ReconciliationFailedReason, "%s", reconcileErr.Error())
	}
	if conditions.IsReady(obj) || conditions.IsTrue(obj, meta.StalledCondition) {
		obj.Status.ObservedGeneration = obj.Generation
	}
	requeue.HandleRequest(obj.GetAnnotations(), &obj.Status.ReconcileRequestStatus)
}
