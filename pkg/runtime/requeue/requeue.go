package requeue

import (
	"math/rand/v2"
	"sync"
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

// RateLimiter is the per-object exponential backoff used after failed reconciles: from
// minDelay, doubling, up to maxDelay, or up to an object's own cap (its spec.retryInterval)
// when that is lower.
type RateLimiter struct {
	backoff workqueue.TypedRateLimiter[reconcile.Request]
	caps    sync.Map // reconcile.Request → time.Duration
}

// NewRateLimiter returns the backoff from minDelay to maxDelay.
func NewRateLimiter(minDelay, maxDelay time.Duration) *RateLimiter {
	return &RateLimiter{backoff: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](minDelay, maxDelay)}
}

// Cap bounds the delays of item from now on; zero or less removes the bound.
func (l *RateLimiter) Cap(item reconcile.Request, limit time.Duration) {
	if limit <= 0 {
		l.caps.Delete(item)
		return
	}
	l.caps.Store(item, limit)
}

// When returns how long item waits before its next retry.
func (l *RateLimiter) When(item reconcile.Request) time.Duration {
	d := l.backoff.When(item)
	if limit, ok := l.caps.Load(item); ok && d > limit.(time.Duration) {
		return limit.(time.Duration)
	}
	return d
}

// Forget resets the backoff of item, after a reconcile that did not fail.
func (l *RateLimiter) Forget(item reconcile.Request) {
	l.backoff.Forget(item)
	l.caps.Delete(item)
}

// NumRequeues returns how many times item failed in a row.
func (l *RateLimiter) NumRequeues(item reconcile.Request) int { return l.backoff.NumRequeues(item) }

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
