package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
)

// What the controller holds for Kustomizations beyond their memos is released when no
// Kustomization needs it: the tracker's informers for kinds no last apply holds, and the
// resource managers (each with its impersonating client) of accounts no Kustomization acts as.
// The CEL programs are held in a bounded cache (pkg/runtime/cel).

// defaultSweepInterval is how often the sweep runs when SweepInterval is not set.
const defaultSweepInterval = 5 * time.Minute

// sweeper runs sweep every SweepInterval until the manager stops.
func (r *KustomizationReconciler) sweeper(ctx context.Context) error {
	every := r.SweepInterval
	if every <= 0 {
		every = defaultSweepInterval
	}
	runEvery(ctx, every, func() {
		if err := r.sweep(ctx); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing Kustomizations; resource managers not released")
		}
	})
	return nil
}

// runEvery calls fn every interval until ctx is done; the first call is one interval in.
func runEvery(ctx context.Context, interval time.Duration, fn func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

// sweep releases the informers and resource managers that no Kustomization needs. An apply
// marks its kinds used when it starts tracking them and holds them in its memo once it is
// done: the informers released are those of kinds in no memo and not asked for since before
// the oldest apply still running (or this sweep) began.
func (r *KustomizationReconciler) sweep(ctx context.Context) error {
	before := time.Now()
	r.applying.Range(func(_, v any) bool {
		if started := v.(time.Time); started.Before(before) {
			before = started
		}
		return true
	})
	kinds := map[schema.GroupVersionKind]bool{}
	r.memos.Range(func(_, v any) bool {
		for _, o := range v.(*memo).objects {
			kinds[o.gvk] = true
		}
		return true
	})
	log := ctrl.LoggerFrom(ctx).WithName("sweep")
	for _, gvk := range r.tracker.Release(kinds, before) {
		log.V(1).Info("no longer tracking a kind no Kustomization applies", "kind", gvk.String())
	}

	list := &kustomizev1.KustomizationList{}
	if err := r.List(ctx, list); err != nil {
		return err
	}
	accounts := map[string]bool{}
	for i := range list.Items {
		accounts[r.serviceAccount(&list.Items[i]).String()] = true
	}
	r.managers.Range(func(k, _ any) bool {
		if !accounts[k.(string)] {
			r.managers.Delete(k)
			log.V(1).Info("released the resource manager of an account no Kustomization uses", "account", k)
		}
		return true
	})
	return nil
}

// wakeups enqueues Kustomizations from the tracker's handlers and from timers without ever
// blocking them: straight into the controller's work queue, which merges a key added twice,
// or, before the controller has started, into a set it drains when it does.
type wakeups struct {
	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	pending map[types.NamespacedName]bool
}

// add enqueues key.
func (w *wakeups) add(key types.NamespacedName) {
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

// source is the controller's source of wake-ups.
func (w *wakeups) source() source.Source {
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
