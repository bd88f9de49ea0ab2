package requeue

import (
	"math/rand/v2"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// Jitter returns interval moved at random by up to percent of itself in either direction, so
// that objects created together do not reconcile in lockstep. percent is clamped to [0, 100).
func Jitter(interval time.Duration, percent uint8) time.Duration {
	if percent == 0 || interval <= 0 {
		return interval
	}
	if percent >= 100 {
		percent = 99
	}
	spread := float64(interval) * float64(percent) / 100
	return interval + time.Duration((rand.Float64()*2-1)*spread)
}

// NewRateLimiter returns the per-object exponential backoff used after failed reconciles:
// from minDelay, doubling, up to maxDelay.
func NewRateLimiter(minDelay, maxDelay time.Duration) workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](minDelay, maxDelay)
}

// HandleRequest copies the requestedAt annotation value to status.lastHandledReconcileAt and
// reports whether it was a new request. Call it at the end of every reconcile, success or not.
func HandleRequest(annotations map[string]string, status meta.ObjectWithReconcileRequest) bool {
	v, ok := meta.ReconcileAnnotationValue(annotations)
	if !ok || v == status.GetLastHandledReconcileRequest() {
		return false
	}
	status.SetLastHandledReconcileRequest(v)
	return true
}
