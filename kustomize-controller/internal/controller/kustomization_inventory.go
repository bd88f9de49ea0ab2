package controller

import (
	"sort"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/inventory"
)

// inventoryOf lists the applied objects in Flux's format, sorted by id. Objects the build
// carries but that were skipped because they opted out of reconciliation are not in it.
func inventoryOf(cs *ssa.ChangeSet) *kustomizev1.ResourceInventory {
	inv := &kustomizev1.ResourceInventory{Entries: make([]kustomizev1.ResourceRef, 0, len(cs.Entries))}
	for _, e := range cs.Entries {
		version := e.GroupVersion
		if i := strings.LastIndex(version, "/"); i >= 0 {
			version = version[i+1:]
		}
		inv.Entries = append(inv.Entries, kustomizev1.ResourceRef{ID: inventory.ID(e.ObjMetadata), Version: version})
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
// An object that drifted says what happened to it: 'ConfigMap/production/web configured
// (drift: changed by kubectl-edit)'.
func changeLines(cs *ssa.ChangeSet, drift map[string]string) []string {
	var out []string
	for _, e := range cs.Entries {
		if e.Action == ssa.CreatedAction || e.Action == ssa.ConfiguredAction || e.Action == ssa.DeletedAction {
			line := e.String()
			if cause, ok := drift[inventory.ID(e.ObjMetadata)]; ok && e.Action != ssa.DeletedAction {
				line += " (drift: " + cause + ")"
			}
			out = append(out, line)
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
	m, err := inventory.Parse(ref.ID)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(m.GroupKind.WithVersion(ref.Version))
	u.SetNamespace(m.Namespace)
	u.SetName(m.Name)
	return u, nil
}
