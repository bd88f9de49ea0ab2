package controller

import (
	"context"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/build"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
)

// reconcileApply fetches the artifact (once per digest, shared with every Kustomization of
// that revision), builds spec.path and applies the result in stages with server-side apply.
// Sets: Ready, Reconciling; inventory and lastAppliedRevision on success.
func (r *KustomizationReconciler) reconcileApply(ctx context.Context, obj *kustomizev1.Kustomization, a *meta.Artifact) error {
	conditions.MarkReconciling(obj, meta.ProgressingReason, "Fetching manifests for revision %s with a timeout of %s", a.Revision, obj.GetTimeout())
	dir, release, err := r.Artifacts.Acquire(ctx, a.URL, a.Digest)
	if err != nil {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.ArtifactFailedReason, "%s", err.Error())
		return err
	}
	defer release()

	objects, err := build.Build(build.Options{
		Root: dir, Path: obj.Spec.Path,
		TargetNamespace: obj.Spec.TargetNamespace, NamePrefix: obj.Spec.NamePrefix, NameSuffix: obj.Spec.NameSuffix,
		Patches: obj.Spec.Patches, Images: obj.Spec.Images,
		Components: obj.Spec.Components, IgnoreMissingComponents: obj.Spec.IgnoreMissingComponents,
		CommonMetadata: obj.Spec.CommonMetadata,
		Name:           obj.Name, Namespace: obj.Namespace,
	})
	if err != nil {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.BuildFailedReason, "%s", err.Error())
		return err
	}

	applyCtx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()
	opts := ssa.DefaultApplyOptions()
	opts.Force = obj.Spec.Force
	opts.WaitTimeout = obj.GetTimeout()
	changeSet, err := r.Resources.ApplyAllStaged(applyCtx, objects, opts)
	if err != nil {
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.ReconciliationFailedReason, "%s", err.Error())
		return err
	}

	obj.Status.Inventory = inventory(changeSet)
	obj.Status.LastAppliedRevision = a.Revision
	conditions.MarkTrue(obj, meta.ReadyCondition, meta.ReconciliationSucceededReason, "Applied revision: %s", a.Revision)
	if changes := changed(changeSet); len(changes) > 0 {
		r.Events.AnnotatedEventf(obj, map[string]string{kustomizev1.GroupVersion.Group + "/revision": a.Revision},
			corev1.EventTypeNormal, meta.ProgressingReason, "%s", strings.Join(changes, "\n"))
	}
	return nil
}

// inventory lists the applied objects in Flux's format, sorted by id.
func inventory(cs *ssa.ChangeSet) *kustomizev1.ResourceInventory {
	inv := &kustomizev1.ResourceInventory{Entries: make([]kustomizev1.ResourceRef, 0, len(cs.Entries))}
	for _, e := range cs.Entries {
		m := e.ObjMetadata
		version := e.GroupVersion
		if i := strings.LastIndex(version, "/"); i >= 0 {
			version = version[i+1:]
		}
		inv.Entries = append(inv.Entries, kustomizev1.ResourceRef{
			ID:      m.Namespace + "_" + m.Name + "_" + m.GroupKind.Group + "_" + m.GroupKind.Kind,
			Version: version,
		})
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].ID < inv.Entries[j].ID })
	return inv
}

// changed lists 'Kind/namespace/name action' for every object that was created or changed.
func changed(cs *ssa.ChangeSet) []string {
	var out []string
	for _, e := range cs.Entries {
		if e.Action == ssa.CreatedAction || e.Action == ssa.ConfiguredAction || e.Action == ssa.DeletedAction {
			out = append(out, e.String())
		}
	}
	return out
}
