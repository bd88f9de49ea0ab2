package tracker

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Wakeups enqueues owners from the tracker's handlers and from timers without ever
// blocking them: straight into the controller's work queue, which merges a key added twice,
// or, before the controller has started, into a set it drains when it does.
type Wakeups struct {
	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	pending map[types.NamespacedName]bool
}

// Add enqueues key; it never blocks.
func (w *Wakeups) Add(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.queue != nil {
		w.queue.Add(reconcile.Request{NamespacedName: key})
		return
	}
	if w.pending == nil {
		w.pending = map[types.NamespacedName]bool{}
	}
	w.pending[key] = true
}

// Source is the controller's source of wake-ups.
func (w *Wakeups) Source() source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.queue = q
		for key := range w.pending {
			q.Add(reconcile.Request{NamespacedName: key})
		}
		w.pending = nil
		return nil
	})
}
