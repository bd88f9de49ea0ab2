// Package inventory reads and writes the ids of status.inventory, in Flux's format, so that
// an inventory written by Flux, by the flux CLI's readers or by Driftless names the same
// objects.
package inventory

import (
	"fmt"

	"github.com/fluxcd/cli-utils/pkg/object"
)

// ID is the id of an object: '<namespace>_<name>_<group>_<kind>', where a ':' in the name of
// an RBAC object is written '__'. A name may itself hold '_' (RBAC names may); the other
// fields cannot.
func ID(m object.ObjMetadata) string { return m.String() }

// Parse reads an id back. The name and kind must not be empty.
func Parse(id string) (object.ObjMetadata, error) {
	m, err := object.ParseObjMetadata(id)
	if err != nil || m.Name == "" || m.GroupKind.Kind == "" {
		return object.ObjMetadata{}, fmt.Errorf("invalid inventory id '%s'", id)
	}
	return m, nil
}

// Canonical is the id of the object that id names, written as ID writes it: ids written
// otherwise for the same object (by Driftless before it wrote Flux's '__', with the ':' as
// it is) compare equal. An id that does not parse is returned as it is.
func Canonical(id string) string {
	m, err := Parse(id)
	if err != nil {
		return id
	}
	return ID(m)
}
