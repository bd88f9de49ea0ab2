package lifecycle

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/runtime/metrics"
	"github.com/driftless-dev/driftless/pkg/runtime/patch"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
)

// endObject is a reconciled kind (the End of the reconcile before the skeleton).
type endObject interface {
	client.Object
	IsSuspended() bool
	GetRequeueAfter() time.Duration
}

// End is the deferred end of one reconcile. Create it right after reading the object, and
// `defer end.Finish(ctx, obj, &result, &retErr)` with the Reconcile's named results.
type End struct {
	// Patcher was created from the object as read.
	Patcher *patch.StatusPatcher
	// Kind labels the duration metric.
	Kind string
	// Start is when the reconcile began.
	Start time.Time
	// JitterPercent spreads the next reconcile around spec.interval.
	JitterPercent uint8
	// Summarize sets the final conditions from the reconcile's error; it is where each kind
	// computes Ready and handles the reconcile request.
	Summarize func(reconcileErr error)
	// RetryInterval, when set, replaces the controller's exponential backoff after a failed
	// reconcile (spec.retryInterval): the error is logged and the object requeued after it.
	RetryInterval time.Duration
}

// Finish writes the outcome. A suspended object only gets its metadata (the finalizer)
// written. Otherwise the status is summarized and patched once (an object already gone is not
// an error), the duration is recorded, and on success without an earlier requeue the object is
// requeued at its jittered interval. A failed reconcile returns its error alone, so the
// controller's backoff applies, unless RetryInterval is set.
func (e End) Finish(ctx context.Context, obj endObject, result *ctrl.Result, retErr *error) {
	deleting := !obj.GetDeletionTimestamp().IsZero()
	if obj.IsSuspended() && !deleting {
		*retErr = errors.Join(*retErr, e.Patcher.Patch(ctx, obj))
		return
	}
	e.Summarize(*retErr)
	if err := e.Patcher.Patch(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		*retErr = errors.Join(*retErr, err)
	}
	metrics.RecordDuration(e.Kind, obj.GetNamespace(), obj.GetName(), e.Start)
	if *retErr != nil && e.RetryInterval > 0 && !errors.Is(*retErr, reconcile.TerminalError(nil)) && !deleting {
		ctrl.LoggerFrom(ctx).Error(*retErr, "reconcile failed", "retryIn", e.RetryInterval.String())
		*retErr = nil
		result.RequeueAfter = e.RetryInterval
		return
	}
	if *retErr == nil && result.RequeueAfter == 0 && !deleting {
		result.RequeueAfter = requeue.Jitter(obj.GetRequeueAfter(), e.JitterPercent)
	}
}
