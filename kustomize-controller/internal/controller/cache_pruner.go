package controller

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/artifact"
)

// CachePruner periodically removes extracted artifacts that no Kustomization's source
// currently points at, or that have been idle longer than Idle.
type CachePruner struct {
	Client   client.Client
	Cache    *artifact.Cache
	Interval time.Duration
	Idle     time.Duration
}

// Start implements manager.Runnable.
func (p *CachePruner) Start(ctx context.Context) error {
	runEvery(ctx, p.Interval, func() {
		keep, err := p.referenced(ctx)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing referenced artifacts; cache not pruned")
			return
		}
		if n := p.Cache.Prune(keep, p.Idle); n > 0 {
			ctrl.LoggerFrom(ctx).V(1).Info("pruned artifact cache", "removed", n, "kept", p.Cache.Len())
		}
	})
	return nil
}

// referenced returns the digests of the current artifacts of every Kustomization's source.
func (p *CachePruner) referenced(ctx context.Context) (map[string]bool, error) {
	list := &kustomizev1.KustomizationList{}
	if err := p.Client.List(ctx, list); err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for i := range list.Items {
		if a, _, err := lookupSource(ctx, p.Client, &list.Items[i]); err == nil && a != nil {
			keep[a.Digest] = true
		}
	}
	return keep, nil
}
