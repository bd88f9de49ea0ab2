package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/inventory"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
)

var ctrlLog = ctrl.LoggerFrom

// defaultPollInterval paces the few waits that have nothing to watch: the establishment of
// CRDs and namespaces applied in the first stage, and deletions under WaitForTermination.
const defaultPollInterval = 500 * time.Millisecond

// pruneResult reports a garbage collection: the change-set lines of the deleted objects and
// the inventory entries that could not be deleted.
type pruneResult struct {
	deleted []string
	failed  []kustomizev1.ResourceRef
}

// deleteOptions delete only objects that carry this Kustomization's owner labels and did not
// opt out with kustomize.toolkit.fluxcd.io/prune: disabled (or the legacy reconcile: disabled).
func deleteOptions(obj *kustomizev1.Kustomization) ssa.DeleteOptions {
	return ssa.DeleteOptions{
		PropagationPolicy: metav1.DeletePropagationBackground,
		Inclusions:        map[string]string{kustomizev1.NameLabel: obj.Name, kustomizev1.NamespaceLabel: obj.Namespace},
		Exclusions: map[string]string{
			kustomizev1.PruneAnnotation:     kustomizev1.DisabledValue,
			kustomizev1.ReconcileAnnotation: kustomizev1.DisabledValue,
		},
	}
}

// prune deletes the objects of the old inventory that are not in the new one, when
// spec.prune is set. Without it, they are left in the cluster and forgotten.
func (r *KustomizationReconciler) prune(ctx context.Context, obj *kustomizev1.Kustomization, old, current *kustomizev1.ResourceInventory, resources *ssa.ResourceManager) (pruneResult, error) {
	if !obj.Spec.Prune || old == nil {
		return pruneResult{}, nil
	}
	keep := make(map[string]bool, len(current.Entries))
	for _, e := range current.Entries {
		keep[inventory.Canonical(e.ID)] = true
	}
	var stale []kustomizev1.ResourceRef
	for _, e := range old.Entries {
		if !keep[inventory.Canonical(e.ID)] { // the same object, whoever wrote its id
			stale = append(stale, e)
		}
	}
	return r.deleteInventory(ctx, obj, stale, resources)
}

// deleteInventory deletes the referenced objects, ConcurrentSSA at a time; the namespaces,
// CRDs and cluster roles among them go last, one at a time, as Flux orders them. Those it
// could not delete are returned, with the joined errors.
func (r *KustomizationReconciler) deleteInventory(ctx context.Context, obj *kustomizev1.Kustomization, refs []kustomizev1.ResourceRef, resources *ssa.ResourceManager) (pruneResult, error) {
	opts := deleteOptions(obj)
	// Until the next apply is remembered (or the Kustomization forgotten), these deletions
	// are the controller's own, not drift.
	r.pruning.Store(client.ObjectKeyFromObject(obj), struct{}{})
	type outcome struct {
		entry *ssa.ChangeSetEntry
		err   error
	}
	outcomes := make([]outcome, len(refs))
	var definitions []int
	objects := make([]*unstructured.Unstructured, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(r.ConcurrentSSA, 1))
	for i, ref := range refs {
		u, err := parseInventoryRef(ref)
		if err != nil {
			outcomes[i].err = err // an entry that can never be resolved is dropped
			continue
		}
		if utils.IsClusterDefinition(u) {
			objects[i] = u
			definitions = append(definitions, i)
			continue
		}
		g.Go(func() error {
			outcomes[i].entry, outcomes[i].err = r.deleteOne(gctx, u, opts, resources)
			return nil
		})
	}
	_ = g.Wait()
	for _, i := range definitions {
		outcomes[i].entry, outcomes[i].err = r.deleteOne(ctx, objects[i], opts, resources)
	}

	var res pruneResult
	var errs []error
	for i, o := range outcomes {
		switch {
		case o.err != nil:
			if o.entry != nil {
				res.failed = append(res.failed, refs[i])
			}
			errs = append(errs, o.err)
		case o.entry.Action == ssa.DeletedAction:
			res.deleted = append(res.deleted, o.entry.String())
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("pruning failed: %w", errors.Join(errs...))
	}
	return res, nil
}

// deleteOne deletes an object of the inventory. When the tracker holds it, the owner labels
// and the opt-outs are checked on that copy, and the object is deleted on the condition that
// it is still that copy (its UID and resourceVersion): one request. Otherwise, or when it
// changed since, the resource manager reads it first, as Flux does.
func (r *KustomizationReconciler) deleteOne(ctx context.Context, u *unstructured.Unstructured, opts ssa.DeleteOptions, resources *ssa.ResourceManager) (*ssa.ChangeSetEntry, error) {
	live, known := r.tracker.Get(u.GroupVersionKind(), client.ObjectKeyFromObject(u))
	if !known || live == nil {
		// Absent from the tracker may mean not seen yet: the API server is asked.
		return resources.Delete(ctx, u, opts)
	}
	seen := &unstructured.Unstructured{}
	seen.SetLabels(live.GetLabels())
	seen.SetAnnotations(live.GetAnnotations())
	if !labels.SelectorFromSet(opts.Inclusions).Matches(labels.Set(live.GetLabels())) || utils.AnyInMetadata(seen, opts.Exclusions) {
		entry := entryFor(u, ssa.SkippedAction)
		return &entry, nil
	}
	uid, version := live.GetUID(), live.GetResourceVersion()
	err := resources.Client().Delete(ctx, u, client.PropagationPolicy(opts.PropagationPolicy),
		client.Preconditions{UID: &uid, ResourceVersion: &version})
	switch {
	case err == nil || apierrors.IsNotFound(err):
		entry := entryFor(u, ssa.DeletedAction)
		return &entry, nil
	case apierrors.IsConflict(err):
		return resources.Delete(ctx, u, opts) // changed since the tracker saw it
	}
	entry := entryFor(u, ssa.UnknownAction)
	return &entry, fmt.Errorf("%s delete failed: %w", utils.FmtUnstructured(u), err)
}

// finalize garbage-collects the inventory of a Kustomization being deleted, as its
// spec.deletionPolicy says; the runtime then releases the finalizer. A suspended
// Kustomization, or one whose service account does not exist, orphans its objects (as Flux
// does: nobody could delete them on the account's behalf).
// Fails with: PruneFailed (the finalizer stays and deletion is retried).
func (r *KustomizationReconciler) finalize(ctx context.Context, s *kustomizationScope) error {
	obj := s.Object
	if v, ok := r.memos.Load(client.ObjectKeyFromObject(obj)); ok { // newer than the cache's copy
		obj.Status.Inventory = v.(*memo).inventory.DeepCopy()
	}
	if obj.Spec.Suspend || obj.Status.Inventory == nil || len(obj.Status.Inventory.Entries) == 0 || !deletesOnRemoval(obj) {
		return nil
	}
	if account := r.serviceAccount(obj); account.Name != "" {
		missing, err := r.serviceAccountMissing(ctx, account)
		if err != nil {
			return err
		}
		if missing {
			r.Events.Eventf(obj, corev1.EventTypeWarning, meta.PruneFailedReason,
				"garbage collection skipped, objects are left in the cluster: service account '%s' not found", account)
			return nil
		}
	}
	resources, err := r.resourceManager(r.serviceAccount(obj))
	if err != nil {
		return err
	}
	res, err := r.deleteInventory(ctx, obj, obj.Status.Inventory.Entries, resources)
	if len(res.deleted) > 0 {
		ctrlLog(ctx).Info("garbage collected the inventory", "deleted", len(res.deleted))
	}
	if err != nil {
		return lifecycle.Failed("", meta.PruneFailedReason, err)
	}
	if obj.GetDeletionPolicy() == kustomizev1.DeletionPolicyWaitForTermination {
		if err := r.waitForTermination(ctx, obj, resources); err != nil {
			r.Events.Eventf(obj, corev1.EventTypeWarning, meta.PruneFailedReason, "%s", err.Error())
		}
	}
	return nil
}

// deletesOnRemoval reports whether spec.deletionPolicy deletes the inventory.
func deletesOnRemoval(obj *kustomizev1.Kustomization) bool {
	switch obj.GetDeletionPolicy() {
	case kustomizev1.DeletionPolicyDelete, kustomizev1.DeletionPolicyWaitForTermination:
		return true
	case kustomizev1.DeletionPolicyOrphan:
		return false
	default: // MirrorPrune
		return obj.Spec.Prune
	}
}

// waitForTermination waits, up to spec.timeout, until the inventory's objects are gone.
func (r *KustomizationReconciler) waitForTermination(ctx context.Context, obj *kustomizev1.Kustomization, resources *ssa.ResourceManager) error {
	cs := ssa.NewChangeSet()
	for _, ref := range obj.Status.Inventory.Entries {
		u, err := parseInventoryRef(ref)
		if err != nil {
			continue
		}
		cs.Add(entryFor(u, ssa.DeletedAction))
	}
	return resources.WaitForSetTermination(cs, ssa.WaitOptions{Interval: defaultPollInterval, Timeout: obj.GetTimeout()})
}
