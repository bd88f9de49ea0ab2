package inventory

import (
	"strings"
	"testing"

	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var rbac = schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}

func TestIDsAreFluxs(t *testing.T) {
	for _, tt := range []struct {
		m  object.ObjMetadata
		id string
	}{
		{object.ObjMetadata{Namespace: "apps", Name: "web", GroupKind: schema.GroupKind{Kind: "ConfigMap"}}, "apps_web__ConfigMap"},
		{object.ObjMetadata{Name: "apps", GroupKind: schema.GroupKind{Kind: "Namespace"}}, "_apps__Namespace"},
		{object.ObjMetadata{Name: "team:viewer", GroupKind: rbac}, "_team__viewer_rbac.authorization.k8s.io_ClusterRole"},
		{object.ObjMetadata{Name: "team_editor", GroupKind: rbac}, "_team_editor_rbac.authorization.k8s.io_ClusterRole"},
	} {
		if got := ID(tt.m); got != tt.id {
			t.Errorf("ID(%v) = %q, want %q", tt.m, got, tt.id)
		}
		if got, err := Parse(tt.id); err != nil || got != tt.m {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.id, got, err, tt.m)
		}
	}
	// What Driftless wrote before it wrote Flux's '__' names the same object.
	if a, b := Canonical("_team:viewer_rbac.authorization.k8s.io_ClusterRole"), Canonical("_team__viewer_rbac.authorization.k8s.io_ClusterRole"); a != b {
		t.Errorf("the two spellings of one ClusterRole differ: %q, %q", a, b)
	}
	for _, id := range []string{"", "apps", "apps_web", "apps_web_ConfigMap", "apps__ConfigMap_", "___", "apps_web__"} {
		if _, err := Parse(id); err == nil {
			t.Errorf("Parse(%q) accepted an id without a name or kind", id)
		}
	}
}

// FuzzID checks that every object Kubernetes can name survives the trip through its id, and
// that any id read back names one object, however it was written.
func FuzzID(f *testing.F) {
	f.Add("apps", "web", "", "ConfigMap", "")
	f.Add("", "team:viewer", rbac.Group, rbac.Kind, "_team__viewer_rbac.authorization.k8s.io_ClusterRole")
	f.Add("", "team_editor", rbac.Group, rbac.Kind, "___")
	f.Add("flux-system", "flux", "kustomize.toolkit.fluxcd.io", "Kustomization", "a_b_c_d_e")
	f.Fuzz(func(t *testing.T, namespace, name, group, kind, id string) {
		// Namespaces, groups and kinds are DNS names and identifiers: no '_'. Names may hold
		// '_' and (RBAC) ':', but Flux's encoding cannot tell '_:' from ':_' from '__'.
		m := object.ObjMetadata{Namespace: namespace, Name: name, GroupKind: schema.GroupKind{Group: group, Kind: kind}}
		if !strings.ContainsAny(namespace+group+kind, "_") && name != "" && kind != "" &&
			!strings.Contains(name, "__") && !strings.Contains(name, "_:") && !strings.Contains(name, ":_") &&
			!strings.HasSuffix(name, "_") && !strings.HasSuffix(name, ":") {
			if got, err := Parse(ID(m)); err != nil || got != m {
				t.Fatalf("Parse(ID(%#v)) = %#v, %v", m, got, err)
			}
		}
		got, err := Parse(id)
		if err != nil {
			return
		}
		if got.Name == "" || got.GroupKind.Kind == "" {
			t.Fatalf("Parse(%q) = %#v: no name or kind", id, got)
		}
		if c := Canonical(id); Canonical(c) != c {
			t.Fatalf("Canonical(%q) = %q, which is not canonical", id, c)
		}
	})
}
