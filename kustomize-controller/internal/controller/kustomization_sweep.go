package controller

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"

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
