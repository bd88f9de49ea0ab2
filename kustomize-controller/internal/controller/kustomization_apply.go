package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/build"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/inventory"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/tracker"
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
	// verified is when every object was last compared with the API server, rather than
	// found untouched in the tracker.
	verified time.Time
}

// verifyDue reports whether, at now, the objects must be compared with the API server again:
// the tracker is trusted for every at most.
func (m *memo) verifyDue(now time.Time, every time.Duration) bool {
	return !now.Before(m.verified.Add(every))
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

// reconcileApply makes the cluster match the build of the artifact: it fetches the artifact
// (once per digest, shared with every Kustomization of that revision), builds spec.path,
// applies what changed in stages with server-side apply and prunes what left the build. The
// change set is announced. When neither the inputs nor the live objects changed since the
// last apply, it does nothing.
// Sets: inventory. Fails with: BuildFailed, ArtifactFailed, ReconciliationFailed, PruneFailed.
func (r *KustomizationReconciler) reconcileApply(ctx context.Context, s *kustomizationScope) error {
	obj, a := s.Object, s.artifact
	key := client.ObjectKeyFromObject(obj)
	defer r.pruning.Delete(key) // after the next memo is stored: see deleteInventory
	r.applying.Store(key, time.Now())
	defer r.applying.Delete(key) // likewise: see expected
	var last *memo
	if v, ok := r.memos.Load(key); ok {
		last = v.(*memo)
	}
	if last != nil {
		obj.Status.Inventory = last.inventory.DeepCopy()
	}
	postBuild, err := r.postBuild(ctx, s.reader, obj)
	if err != nil {
		return lifecycle.Failed("", meta.BuildFailedReason, err)
	}
	bk := buildKey(a, obj, postBuild)
	started := time.Now()
	confirmed := false
	if last != nil && (requested(obj) || last.verifyDue(started, r.VerifyInterval)) {
		// Compared with the API server: what the tracker shows is trusted no further.
		last = r.confirm(ctx, s.resources.Client(), key, last)
		last.verified, confirmed = started, true
	}
	if last != nil && last.buildKey == bk && last.unchanged(r) {
		if confirmed {
			r.memos.Store(key, last)
		}
		return nil
	}

	dir, release, err := r.Artifacts.Acquire(ctx, a.URL, a.Digest)
	if err != nil {
		return lifecycle.Failed("", meta.ArtifactFailedReason, err)
	}
	defer release()

	// The keys are read only when there is something to build.
	decryptor, err := r.decryptor(ctx, s.reader, obj)
	if err != nil {
		return lifecycle.Failed("", meta.BuildFailedReason, err)
	}
	objects, err := build.Build(build.Options{
		Root: dir, Path: obj.Spec.Path,
		TargetNamespace: obj.Spec.TargetNamespace, NamePrefix: obj.Spec.NamePrefix, NameSuffix: obj.Spec.NameSuffix,
		Patches: obj.Spec.Patches, Images: obj.Spec.Images,
		Components: obj.Spec.Components, IgnoreMissingComponents: obj.Spec.IgnoreMissingComponents,
		CommonMetadata: obj.Spec.CommonMetadata, BuildMetadata: obj.Spec.BuildMetadata, Decrypt: decryptor, PostBuild: postBuild,
		AllowRemote: r.AllowRemoteBases,
		Name:        obj.Name, Namespace: obj.Namespace,
	})
	if err != nil {
		return lifecycle.Failed("", meta.BuildFailedReason, err)
	}

	changeSet, next, err := r.apply(ctx, obj, objects, last, s.resources)
	if err != nil {
		return lifecycle.Failed("", meta.ReconciliationFailedReason, r.explainRefusal(ctx, obj, err))
	}
	next.buildKey = bk
	next.verified = started
	if last != nil {
		next.verified = last.verified // the objects found untouched were not compared
	}

	newInventory := inventoryOf(changeSet)
	pruned, err := r.prune(ctx, obj, obj.Status.Inventory, newInventory, s.resources)
	// Objects that failed to be deleted stay in the inventory, to be pruned next time.
	obj.Status.Inventory = mergeInventory(newInventory, pruned.failed)
	changes := changeLines(changeSet, r.takeDrift(key, changeSet))
	changes = append(changes, pruned.deleted...)
	if len(changes) > 0 {
		s.changed = true
		s.Announce(meta.ProgressingReason, "%s", strings.Join(changes, "\n"))
	}
	if err != nil {
		return lifecycle.Failed("", meta.PruneFailedReason, r.explainRefusal(ctx, obj, err))
	}
	next.inventory = obj.Status.Inventory.DeepCopy()
	r.memos.Store(key, next)
	return nil
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
		id := inventory.ID(object.UnstructuredToObjMetadata(o))
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
		case direct(o):
			if d, ok := r.directUnknown(o); ok {
				directs = append(directs, d)
				break
			}
			managed = append(managed, o)
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
			seen[inventory.ID(object.UnstructuredToObjMetadata(o))] = tracker.Fingerprint(live)
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

	for _, e := range changeSet.Entries {
		id := inventory.ID(e.ObjMetadata)
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
