package controller

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
)

// inventoryID is the id of an object in status.inventory: '<namespace>_<name>_<group>_<kind>'.
func inventoryID(m object.ObjMetadata) string {
	return m.Namespace + "_" + m.Name + "_" + m.GroupKind.Group + "_" + m.GroupKind.Kind
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
