package controller

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/inventory"
	"github.com/driftless-dev/driftless/pkg/runtime/tracker"
)

// The direct path applies an object with a single request, where the resource manager would
// first read it and dry-run it. It is taken only when the controller knows what the live
// object is: absent (the tracker has synced its kind and holds no such object), exactly as
// the controller left it (untouched since it was last seen equal to a build), or written by
// this controller's server-side applies alone (after a restart, say, when nothing is
// remembered). In each case there is no foreign field ownership to clean up, and the apply's
// answer says what the dry-run would have: a resourceVersion that did not move is an
// unchanged object.

// direct reports whether an object may take the direct path at all: kinds that later stages
// wait for, and objects with per-object apply policies, go through the resource manager.
func direct(o *unstructured.Unstructured) bool {
	if utils.IsClusterDefinition(o) || utils.IsClassDefinition(o) {
		return false
	}
	for _, m := range []map[string]string{o.GetAnnotations(), o.GetLabels()} {
		switch strings.ToLower(m[kustomizev1.SSAAnnotation]) {
		case kustomizev1.IfNotPresentValue, kustomizev1.IgnoreValue:
			return false
		}
		if strings.EqualFold(m[kustomizev1.ReconcileAnnotation], kustomizev1.DisabledValue) {
			return false
		}
	}
	return true
}

// directObject is an object on the direct path and what is known of its live copy.
type directObject struct {
	obj *unstructured.Unstructured
	// resourceVersion of the live copy; empty when it is known to be absent.
	resourceVersion string
	// checkOwners sends the object to the resource manager when the apply's answer shows
	// other field managers than this controller's applies: the tracker's copy was not known
	// to be as the controller left it.
	checkOwners bool
}

// directResult is the outcome of the direct path.
type directResult struct {
	entries []ssa.ChangeSetEntry
	// fingerprints of the objects as the API server stored them, by inventory id.
	fingerprints map[string]string
	// recheck are the objects the resource manager must handle after all: the apply failed
	// (an immutable field, say, which it may recreate with force), or the object turned out to
	// have other field managers (written by someone else before the tracker saw it), whose
	// ownership it cleans up.
	recheck []*unstructured.Unstructured
}

// applyDirect server-side applies the objects concurrently, one request each.
func (r *KustomizationReconciler) applyDirect(ctx context.Context, c client.Client, objects []directObject) (directResult, error) {
	res := directResult{fingerprints: map[string]string{}}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	limit := r.ConcurrentSSA
	if limit <= 0 {
		limit = 4
	}
	g.SetLimit(limit)
	for _, d := range objects {
		g.Go(func() error {
			applied := d.obj.DeepCopy()
			sent := time.Now()
			err := c.Patch(ctx, applied, client.Apply, client.ForceOwnership, client.FieldOwner(r.FieldManager))
			if ctx.Err() != nil {
				return ctx.Err()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil || (d.checkOwners && r.foreignManagers(applied)) {
				res.recheck = append(res.recheck, d.obj)
				return nil
			}
			res.fingerprints[inventory.ID(object.UnstructuredToObjMetadata(d.obj))] = tracker.Fingerprint(applied)
			switch {
			case d.resourceVersion == "" && applied.GetCreationTimestamp().Add(time.Second).Before(sent):
				// Not in the tracker yet, but older than this request: an object this
				// controller created a moment ago, not seen back yet.
				res.entries = append(res.entries, entryFor(d.obj, ssa.ConfiguredAction))
			case d.resourceVersion == "":
				res.entries = append(res.entries, entryFor(d.obj, ssa.CreatedAction))
			case applied.GetResourceVersion() == d.resourceVersion:
				res.entries = append(res.entries, entryFor(d.obj, ssa.UnchangedAction))
			default:
				res.entries = append(res.entries, entryFor(d.obj, ssa.ConfiguredAction))
			}
			return nil
		})
	}
	err := g.Wait()
	return res, err
}

// foreignManagers reports whether an object has fields managed otherwise than by this
// controller's server-side applies (the API server's own status writers aside): by another
// writer, or by an update of this controller's that the resource manager would clean up.
func (r *KustomizationReconciler) foreignManagers(o metav1.Object) bool {
	for _, mf := range o.GetManagedFields() {
		if mf.Subresource != "status" && (mf.Manager != r.FieldManager || mf.Operation != metav1.ManagedFieldsOperationApply) {
			return true
		}
	}
	return false
}

// directUnknown returns the direct path for an object not known to be as the controller left
// it, when the tracker allows one: absent (its kind synced and no such object), or written by
// this controller's applies alone (at its resourceVersion). Otherwise ok is false.
func (r *KustomizationReconciler) directUnknown(o *unstructured.Unstructured) (d directObject, ok bool) {
	live, known := r.tracker.Get(o.GroupVersionKind(), types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()})
	switch {
	case known && live == nil:
		return directObject{obj: o, checkOwners: true}, true
	case known && !r.foreignManagers(live):
		return directObject{obj: o, resourceVersion: live.GetResourceVersion(), checkOwners: true}, true
	}
	return directObject{}, false
}

// liveVersion returns the resourceVersion of the tracked live copy of o.
func (r *KustomizationReconciler) liveVersion(o memoObject) string {
	live, known := r.tracker.Get(o.gvk, o.key)
	if !known || live == nil {
		return ""
	}
	return live.GetResourceVersion()
}
