package controller

import (
	"errors"

	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// gitRepositoryFailures are the abnormal conditions that make a GitRepository not Ready, in
// the order their message is shown.
var gitRepositoryFailures = []string{
	sourcev1.FetchFailedCondition,
	sourcev1.StorageOperationFailedCondition,
	sourcev1.IncludeUnavailableCondition,
}

// summarizeGitRepository computes the final status of a reconcile in one place: Reconciling
// and Stalled from the outcome, Ready from the other conditions, observedGeneration, and the
// reconcile-request handshake.
func summarizeGitRepository(obj *sourcev1.GitRepository, reconcileErr error) {
	switch {
	case reconcileErr == nil:
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.Delete(obj, meta.StalledCondition)
	case errors.Is(reconcileErr, reconcile.TerminalError(nil)):
		conditions.Delete(obj, meta.ReconcilingCondition)
	default:
		conditions.Delete(obj, meta.StalledCondition)
		conditions.MarkReconciling(obj, meta.ProgressingWithRetryReason, "%s", reconcileErr.Error())
	}
	conditions.SummarizeReady(obj, conditions.Summary{Failures: gitRepositoryFailures})
	if reconcileErr != nil && !conditions.IsFalse(obj, meta.ReadyCondition) {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.FailedReason, "%s", reconcileErr.Error())
	}
	if conditions.IsReady(obj) || conditions.IsTrue(obj, meta.StalledCondition) {
		obj.Status.ObservedGeneration = obj.Generation
	}
	requeue.HandleRequest(obj.GetAnnotations(), &obj.Status.ReconcileRequestStatus)
}
