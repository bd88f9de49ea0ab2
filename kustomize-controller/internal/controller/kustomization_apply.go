package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/build"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/tracker"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
)

// memo is what the controller remembers of a Kustomization's last apply, so that a reconcile
// where nothing changed does no work: not a download, not a build, not an API request.
type memo struct {
	// buildKey identifies the build's inputs: the artifact, the spec and the variables.
	buildKey string
	// objects are the applied objects, by inventory id.
	objects map[string]memoObject
	// inventory is the status.inventory written with this apply. It is authoritative over
	// the Kustomization read from the cache, which may not show that write yet.
	inventory *kustomizev1.ResourceInventory
}

type memoObject struct {
	gvk schema.GroupVersionKind
	key types.NamespacedName
	// hash of the object as built.
	hash string
	// fingerprint of the live object (tracker.Fingerprint) when it was last seen equal to
	// the build; empty when that must be verified with a dry-run.
	fingerprint string
}

// untouched reports whether the live object is known to be as the controller left it.
func (r *KustomizationReconciler) untouched(o memoObject) bool {
	if o.fingerprint == "" {
		return false
	}
	live, known := r.tracker.Get(o.gvk, o.key)
	return known && live != nil && tracker.Fingerprint(live) == o.fingerprint
}

func (m *memo) unchanged(r *KustomizationReconciler) bool {
	for _, o := range m.objects {
		if !r.untouched(o) {
			return false
		}
	}
	return true
}

// trackerSyncTimeout bounds the wait for a new kind's informer; after it, objects take the
// resource manager's path (read and dry-run) until the informer has synced.
const trackerSyncTimeout = 5 * time.Second

// requested reports whether the reconcile answers a new reconcile.fluxcd.io/requestedAt.
func requested(obj *kustomizev1.Kustomization) bool {
	v, ok := meta.ReconcileAnnotationValue(obj.GetAnnotations())
	return ok && v != obj.Status.LastHandledReconcileAt
}

// buildKey identifies what a build depends on: the artifact, the spec and the substitution
// variables read from ConfigMaps and Secrets (kept only as part of a hash).
func buildKey(a *meta.Artifact, obj *kustomizev1.Kustomization, postBuild *build.Substitution) string {
	spec, _ := json.Marshal(obj.Spec)
	h := sha256.New()
	h.Write([]byte(a.Digest + "\x00" + a.Revision + "\x00"))
	h.Write(spec)
	if postBuild != nil {
		vars, _ := json.Marshal(postBuild) // map keys are sorted: the encoding is deterministic
		h.Write(vars)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func objectHash(o *unstructured.Unstructured) string {
	b, _ := json.Marshal(o.Object) // map keys are sorted: the encoding is deterministic
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// inventoryID is the id of an object in status.inventory: '<namespace>_<name>_<group>_<kind>'.
func inventoryID(m object.ObjMetadata) string {
	return m.Namespace + "_" + m.Name + "_" + m.GroupKind.Group + "_" + m.GroupKind.Kind
}

// reconcileApply makes the cluster match the build of the artifact: it fetches the artifact
// (once per digest, shared with every Kustomization of that revision), builds spec.path,
// applies what changed in stages with server-side apply and prunes what left the build.
// When neither the inputs nor the live objects changed since the last apply, it does nothing.
// Sets: Ready (on failure), Reconciling, inventory.
func (r *KustomizationReconciler) reconcileApply(ctx context.Context, obj *kustomizev1.Kustomization, a *meta.Artifact, resources *ssa.ResourceManager) (changed bool, err error) {
	key := client.ObjectKeyFromObject(obj)
	defer r.pruning.Delete(key) // after the next memo is stored: see deleteInventory
	r.applying.Store(key, struct{}{})
	defer r.applying.Delete(key) // likewise: see expected
	var last *memo
	if v, ok := r.memos.Load(key); ok {
		last = v.(*memo)
	}
	if last != nil {
		obj.Status.Inventory = last.inventory.DeepCopy()
	}
	postBuild, err := r.postBuild(ctx, obj)
	if err != nil {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.BuildFailedReason, "%s", err.Error())
		return false, err
	}
	bk := buildKey(a, obj, postBuild)
	if requested(obj) {
		last = nil // a manual request verifies every object with the API server
	}
	if last != nil && last.buildKey == bk && last.unchanged(r) {
		return false, nil
	}

	conditions.MarkReconciling(obj, meta.ProgressingReason, "Fetching manifests for revision %s with a timeout of %s", a.Revision, obj.GetTimeout())
	dir, release, err := r.Artifacts.Acquire(ctx, a.URL, a.Digest)
	if err != nil {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.ArtifactFailedReason, "%s", err.Error())
		return false, err
	}
	defer release()

	// The keys are read only when there is something to build.
	decryptor, err := r.decryptor(ctx, obj)
	if err != nil {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.BuildFailedReason, "%s", err.Error())
		return false, err
	}
	conditions.MarkReconciling(obj, meta.ProgressingReason, "Building manifests for revision %s with a timeout of %s", a.Revision, obj.GetTimeout())
	objects, err := build.Build(build.Options{
		Root: dir, Path: obj.Spec.Path,
		TargetNamespace: obj.Spec.TargetNamespace, NamePrefix: obj.Spec.NamePrefix, NameSuffix: obj.Spec.NameSuffix,
		Patches: obj.Spec.Patches, Images: obj.Spec.Images,
		Components: obj.Spec.Components, IgnoreMissingComponents: obj.Spec.IgnoreMissingComponents,
		CommonMetadata: obj.Spec.CommonMetadata, Decrypt: decryptor, PostBuild: postBuild,
		Name: obj.Name, Namespace: obj.Namespace,
	})
	if err != nil {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.BuildFailedReason, "%s", err.Error())
		return false, err
	}

	conditions.MarkReconciling(obj, meta.ProgressingReason, "Detecting drift for revision %s with a timeout of %s", a.Revision, obj.GetTimeout())
	changeSet, next, err := r.apply(ctx, obj, objects, last, resources)
	if err != nil {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.ReconciliationFailedReason, "%s", err.Error())
		return false, err
	}
	next.buildKey = bk

	newInventory := inventory(changeSet)
	pruned, err := r.prune(ctx, obj, obj.Status.Inventory, newInventory, resources)
	// Objects that failed to be deleted stay in the inventory, to be pruned next time.
	obj.Status.Inventory = mergeInventory(newInventory, pruned.failed)
	changes := changeLines(changeSet)
	changes = append(changes, pruned.deleted...)
	if len(changes) > 0 {
		r.Events.AnnotatedEventf(obj, map[string]string{kustomizev1.GroupVersion.Group + "/revision": a.Revision},
			corev1.EventTypeNormal, meta.ProgressingReason, "%s", strings.Join(changes, "\n"))
	}
	if err != nil {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.PruneFailedReason, "%s", err.Error())
		return true, err
	}
	next.inventory = obj.Status.Inventory.DeepCopy()
	r.memos.Store(key, next)
	return len(changes) > 0, nil
}

// apply applies the objects that may differ from the cluster, and records the others as
// unchanged without a request: an object is skipped when it is built exactly as last time and
// its live copy has not been written by anyone since it was last seen equal to the build.
func (r *KustomizationReconciler) apply(ctx context.Context, obj *kustomizev1.Kustomization, objects []*unstructured.Unstructured, last *memo, resources *ssa.ResourceManager) (*ssa.ChangeSet, *memo, error) {
	next := &memo{objects: make(map[string]memoObject, len(objects))}
	var managed []*unstructured.Unstructured // through the resource manager: read, dry-run, apply
	var directs []directObject
	var skipped []ssa.ChangeSetEntry
	hashes := make(map[string]string, len(objects))
	gvks := map[schema.GroupVersionKind]bool{}
	for _, o := range objects {
		gvks[o.GroupVersionKind()] = true
	}
	// Track the kinds before applying, so that the informers see the writes that follow.
	kinds := make([]schema.GroupVersionKind, 0, len(gvks))
	for gvk := range gvks {
		kinds = append(kinds, gvk)
	}
	if err := r.tracker.Track(kinds...); err != nil {
		ctrlLog(ctx).V(1).Info("not tracking applied kinds; drift will be verified with dry-runs", "error", err.Error())
	}
	// A kind seen for the first time: its informer lists the objects once; waiting for that
	// saves a read and a dry-run per object.
	r.tracker.WaitForSync(ctx, trackerSyncTimeout, kinds...)

	for _, o := range objects {
		id := inventoryID(object.UnstructuredToObjMetadata(o))
		h := objectHash(o)
		hashes[id] = h
		var prev *memoObject
		if last != nil {
			if p, ok := last.objects[id]; ok && r.untouched(p) {
				prev = &p
			}
		}
		switch {
		case prev != nil && prev.hash == h:
			skipped = append(skipped, entryFor(o, ssa.UnchangedAction))
			next.objects[id] = *prev
		case prev != nil && direct(o):
			directs = append(directs, directObject{obj: o, resourceVersion: r.liveVersion(*prev)})
		case direct(o) && r.knownAbsent(o):
			directs = append(directs, directObject{obj: o})
		default:
			managed = append(managed, o)
		}
	}

	// What the tracker shows of the objects the resource manager is about to compare. An
	// object it finds unchanged is remembered as seen only if the tracker still shows the same
	// write history afterwards: a write that lands between the manager's read and the end of
	// the apply was not compared, and must be verified next time.
	seen := make(map[string]string, len(managed))
	for _, o := range managed {
		if live, known := r.tracker.Get(o.GroupVersionKind(), client.ObjectKeyFromObject(o)); known && live != nil {
			seen[inventoryID(object.UnstructuredToObjMetadata(o))] = tracker.Fingerprint(live)
		}
	}

	opts := r.applyOptions(obj)
	changeSet := ssa.NewChangeSet()
	if len(managed) > 0 {
		// First: the resource manager's stages apply (and wait for) CRDs and namespaces that
		// the direct objects may need.
		cs, err := resources.ApplyAllStaged(ctx, managed, opts)
		if err != nil {
			return nil, nil, err
		}
		changeSet.Append(cs.Entries)
	}
	var fingerprints map[string]string
	if len(directs) > 0 {
		res, err := r.applyDirect(ctx, resources.Client(), directs)
		if err != nil {
			return nil, nil, err
		}
		changeSet.Append(res.entries)
		fingerprints = res.fingerprints
		if len(res.recheck) > 0 {
			cs, err := resources.ApplyAll(ctx, res.recheck, opts)
			if err != nil {
				return nil, nil, err
			}
			changeSet.Append(cs.Entries)
		}
	}
	changeSet.Append(skipped)
	if r.afterApply != nil {
		r.afterApply(client.ObjectKeyFromObject(obj))
	}

	for _, e := range changeSet.Entries {
		id := inventoryID(e.ObjMetadata)
		if _, done := next.objects[id]; done || e.Action == ssa.SkippedAction {
			continue
		}
		m := memoObject{
			gvk:  schema.GroupVersionKind{Group: e.ObjMetadata.GroupKind.Group, Version: e.GroupVersion, Kind: e.ObjMetadata.GroupKind.Kind},
			key:  types.NamespacedName{Namespace: e.ObjMetadata.Namespace, Name: e.ObjMetadata.Name},
			hash: hashes[id],
		}
		switch fp, ok := fingerprints[id]; {
		case ok:
			// Applied directly: the API server's answer is the object as it now is.
			m.fingerprint = fp
		case e.Action == ssa.UnchangedAction:
			// Found equal by a dry-run, and nobody wrote to it while the apply ran.
			if live, known := r.tracker.Get(m.gvk, m.key); known && live != nil && seen[id] != "" && tracker.Fingerprint(live) == seen[id] {
				m.fingerprint = seen[id]
			}
		}
		// Otherwise just written by the resource manager, whose answer is not returned: it
		// is verified with a dry-run next time.
		next.objects[id] = m
	}
	return changeSet, next, nil
}

// applyOptions are Flux's: per-object ssa/force annotations, and removal of the field
// ownership and annotations left by kubectl client-side apply and older Flux versions.
func (r *KustomizationReconciler) applyOptions(obj *kustomizev1.Kustomization) ssa.ApplyOptions {
	opts := ssa.DefaultApplyOptions()
	opts.Force = obj.Spec.Force
	opts.WaitInterval = defaultPollInterval
	opts.WaitTimeout = obj.GetTimeout()
	opts.ExclusionSelector = map[string]string{
		kustomizev1.ReconcileAnnotation: kustomizev1.DisabledValue,
		kustomizev1.SSAAnnotation:       kustomizev1.IgnoreValue,
	}
	opts.IfNotPresentSelector = map[string]string{kustomizev1.SSAAnnotation: kustomizev1.IfNotPresentValue}
	opts.ForceSelector = map[string]string{kustomizev1.ForceAnnotation: kustomizev1.EnabledValue}
	managers := []ssa.FieldManager{
		{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationApply},
		{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationUpdate},
		{Name: "before-first-apply", OperationType: metav1.ManagedFieldsOperationUpdate},
		{Name: r.FieldManager, OperationType: metav1.ManagedFieldsOperationUpdate},
	}
	for _, m := range r.OverrideManagers {
		managers = append(managers,
			ssa.FieldManager{Name: m, OperationType: metav1.ManagedFieldsOperationApply},
			ssa.FieldManager{Name: m, OperationType: metav1.ManagedFieldsOperationUpdate})
	}
	opts.Cleanup = ssa.ApplyCleanupOptions{
		Annotations:   []string{corev1.LastAppliedConfigAnnotation, "fluxcd.io/sync-checksum", "kustomize.toolkit.fluxcd.io/checksum"},
		Labels:        []string{"fluxcd.io/sync-gc-mark"},
		FieldManagers: managers,
		Exclusions:    map[string]string{kustomizev1.SSAAnnotation: kustomizev1.MergeValue},
	}
	return opts
}

// inventory lists the applied objects in Flux's format, sorted by id. Objects the build
// carries but that were skipped because they opted out of reconciliation are not in it.
func inventory(cs *ssa.ChangeSet) *kustomizev1.ResourceInventory {
	inv := &kustomizev1.ResourceInventory{Entries: make([]kustomizev1.ResourceRef, 0, len(cs.Entries))}
	for _, e := range cs.Entries {
		version := e.GroupVersion
		if i := strings.LastIndex(version, "/"); i >= 0 {
			version = version[i+1:]
		}
		inv.Entries = append(inv.Entries, kustomizev1.ResourceRef{ID: inventoryID(e.ObjMetadata), Version: version})
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].ID < inv.Entries[j].ID })
	return inv
}

// mergeInventory adds extra entries (stale objects that could not be deleted) to inv.
func mergeInventory(inv *kustomizev1.ResourceInventory, extra []kustomizev1.ResourceRef) *kustomizev1.ResourceInventory {
	if len(extra) == 0 {
		return inv
	}
	inv.Entries = append(inv.Entries, extra...)
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].ID < inv.Entries[j].ID })
	return inv
}

// changeLines lists 'Kind/namespace/name action' for every object that was created or changed.
func changeLines(cs *ssa.ChangeSet) []string {
	var out []string
	for _, e := range cs.Entries {
		if e.Action == ssa.CreatedAction || e.Action == ssa.ConfiguredAction || e.Action == ssa.DeletedAction {
			out = append(out, e.String())
		}
	}
	return out
}

// entryFor is the change-set entry of an object that the resource manager did not handle.
func entryFor(o *unstructured.Unstructured, action ssa.Action) ssa.ChangeSetEntry {
	return ssa.ChangeSetEntry{
		ObjMetadata: object.UnstructuredToObjMetadata(o), GroupVersion: o.GroupVersionKind().Version,
		Subject: utils.FmtUnstructured(o), Action: action,
	}
}

// parseInventoryRef turns an inventory entry back into an object reference.
func parseInventoryRef(ref kustomizev1.ResourceRef) (*unstructured.Unstructured, error) {
	parts := strings.Split(ref.ID, "_")
	if len(parts) != 4 {
		return nil, fmt.Errorf("invalid inventory id '%s'", ref.ID)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: parts[2], Version: ref.Version, Kind: parts[3]})
	u.SetNamespace(parts[0])
	u.SetName(parts[1])
	return u, nil
}
