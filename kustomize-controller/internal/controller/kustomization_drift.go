package controller

import (
	"context"
	"time"

	"github.com/fluxcd/pkg/ssa"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/inventory"
	"github.com/driftless-dev/driftless/pkg/runtime/tracker"
)

// Drift correction from the watch: the tracker reports an applied object deleted, or a field
// the controller applied taken over by another writer, and the Kustomization is reconciled at
// once instead of at its next interval, at most once per --drift-correction-gap for an object
// that keeps drifting.

// wakeUp enqueues a Kustomization whose objects changed while it waits for their health, or
// drifted. It does not block.
func (r *KustomizationReconciler) wakeUp(owner types.NamespacedName) { r.wake.Add(owner) }

// drifted schedules the reconcile of a Kustomization one of whose objects drifted: at once,
// unless a drift correction of the same Kustomization is pending (it will see this drift too)
// or the same object drifted less than DriftCorrectionGap ago, so that a writer fighting over
// a field costs one apply per gap. Only the objects of the last apply can drift, and the
// deletions the controller makes itself (prune, garbage collection) are not drift.
func (r *KustomizationReconciler) drifted(d tracker.Drift) {
	if !r.expected(d) {
		return
	}
	cause := "changed"
	if d.Deleted {
		cause = "deleted"
	}
	driftDetected.WithLabelValues(d.Owner.Name, d.Owner.Namespace, cause).Inc()
	now := time.Now()
	r.driftMu.Lock()
	c := r.drifts[d.Owner]
	if c.causes == nil {
		c.causes = map[string]string{}
	}
	c.causes[driftID(d)] = d.Cause()
	at, ok := c.schedule(driftID(d), now, r.DriftCorrectionGap)
	r.drifts[d.Owner] = c
	r.driftMu.Unlock()
	if !ok {
		return
	}
	r.log.Info("drift detected, correcting", "kustomization", d.Owner.String(), "object", d.String(), "after", at.Sub(now).Round(time.Millisecond).String())
	time.AfterFunc(at.Sub(now), func() { r.wakeUp(d.Owner) })
}

// driftDetected counts the drift the watch saw, by Kustomization and cause (an applied object
// "deleted", or "changed" by another writer): a steady rise names a writer fighting Git.
var driftDetected = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "driftless_kustomize_drift_detected_total",
	Help: "Drift of applied objects seen by the watch, by Kustomization and cause (deleted, changed).",
}, []string{"name", "namespace", "cause"})

// driftCorrection is the state of a Kustomization's drift corrections.
type driftCorrection struct {
	// pending is set from a drift until the next reconcile starts.
	pending bool
	// last is when each object that drifted recently was corrected, by inventory id.
	last map[string]time.Time
	// causes are what happened to the objects that drifted and were not corrected yet (a
	// writer's name), by inventory id.
	causes map[string]string
}

// schedule decides when drift of the object id, seen at now, is corrected: not at all when a
// correction is pending (it will see this drift too); at now when the object has not been
// corrected within the last gap; otherwise a gap after its last correction, so that a writer
// fighting over a field costs one apply per gap. The correction is then pending.
func (c *driftCorrection) schedule(id string, now time.Time, gap time.Duration) (time.Time, bool) {
	if c.pending {
		return time.Time{}, false
	}
	if c.last == nil {
		c.last = map[string]time.Time{}
	}
	at := now
	for o, t := range c.last {
		if t.Add(gap).Before(now) {
			delete(c.last, o)
		} else if o == id {
			at = t.Add(gap)
		}
	}
	c.last[id], c.pending = at, true
	return at, true
}

// reconcileStarted ends a pending drift correction: drift seen after this moment needs
// another reconcile.
func (r *KustomizationReconciler) reconcileStarted(key types.NamespacedName) {
	r.driftMu.Lock()
	defer r.driftMu.Unlock()
	if c, ok := r.drifts[key]; ok && c.pending {
		c.pending = false
		r.drifts[key] = c
	}
}

// takeDrift returns, and forgets, what happened to the objects of the change set that drifted
// (by inventory id), so that the change set says who changed them. A drift of another object
// waits for the change set that corrects it.
func (r *KustomizationReconciler) takeDrift(key types.NamespacedName, cs *ssa.ChangeSet) map[string]string {
	r.driftMu.Lock()
	defer r.driftMu.Unlock()
	c, ok := r.drifts[key]
	if !ok || len(c.causes) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, e := range cs.Entries {
		if e.Action != ssa.CreatedAction && e.Action != ssa.ConfiguredAction {
			continue
		}
		id := inventory.ID(e.ObjMetadata)
		if cause, ok := c.causes[id]; ok {
			out[id] = cause
			delete(c.causes, id)
		}
	}
	r.drifts[key] = c
	return out
}

// expected reports whether the object is one its owner wants as applied: it is in the last
// apply, and, when deleted, the owner is not pruning. Before a Kustomization's first apply
// is remembered (it is new, or the controller restarted), that apply verifies every object
// anyway: only drift while it runs, which may follow the verification, is expected. A
// suspended Kustomization expects nothing.
func (r *KustomizationReconciler) expected(d tracker.Drift) bool {
	if _, ok := r.pruning.Load(d.Owner); ok && d.Deleted {
		return false
	}
	ks := &kustomizev1.Kustomization{}
	if err := r.Get(context.Background(), d.Owner, ks); err != nil || ks.Spec.Suspend {
		return false
	}
	v, ok := r.memos.Load(d.Owner)
	if !ok {
		_, applying := r.applying.Load(d.Owner)
		return applying
	}
	_, ok = v.(*memo).objects[driftID(d)]
	return ok
}

// driftID is the inventory id of the object that drifted.
func driftID(d tracker.Drift) string {
	return inventory.ID(object.ObjMetadata{Namespace: d.Object.Namespace, Name: d.Object.Name, GroupKind: d.GVK.GroupKind()})
}
