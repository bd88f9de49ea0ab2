package controller

import (
	"fmt"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/runtime/tracker"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// appliedConfigMaps server-side applies n ConfigMaps in each namespace as the controller does
// for owner, and returns the memo an apply of them leaves.
func appliedConfigMaps(t *testing.T, owner types.NamespacedName, n int, namespaces ...string) *memo {
	t.Helper()
	last := &memo{objects: map[string]memoObject{}}
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	for _, ns := range namespaces {
		namespace(t, ns)
		for i := range n {
			cm := &corev1.ConfigMap{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Namespace: ns, Labels: map[string]string{
					kustomizev1.NameLabel: owner.Name, kustomizev1.NamespaceLabel: owner.Namespace,
				}},
				Data: map[string]string{"value": "applied"},
			}
			if err := env.Client.Patch(testenv.Context(t), cm, client.Apply, client.ForceOwnership, client.FieldOwner(reconciler.FieldManager)); err != nil {
				t.Fatal(err)
			}
			last.objects[ns+"/"+cm.Name] = memoObject{gvk: gvk, key: client.ObjectKeyFromObject(cm), hash: "h", fingerprint: tracker.Fingerprint(cm)}
		}
	}
	return last
}

// A verify lists the applied objects' metadata from the API server, one LIST per kind and
// namespace: the objects someone wrote to, deleted or took the owner labels off are compared
// again (their fingerprint cleared); the others are confirmed as the controller left them.
func TestConfirmFindsWhatChangedInTheAPIServer(t *testing.T) {
	ctx := testenv.Context(t)
	owner := types.NamespacedName{Namespace: "default", Name: "confirm"}
	last := appliedConfigMaps(t, owner, 4, "confirm-a", "confirm-b")
	cm := func(ns, name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	if err := env.Client.Patch(ctx, cm("confirm-a", "cm-1"), client.RawPatch(types.MergePatchType, []byte(`{"data":{"value":"edited"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, cm("confirm-a", "cm-2")); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Patch(ctx, cm("confirm-b", "cm-3"), client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/labels/kustomize.toolkit.fluxcd.io~1name"}]`)), client.FieldOwner("kubectl-label")); err != nil {
		t.Fatal(err)
	}
	// Already to be compared: stays so, without a request.
	o := last.objects["confirm-b/cm-0"]
	o.fingerprint = ""
	last.objects["confirm-b/cm-0"] = o

	got := reconciler.confirm(ctx, env.Client, owner, last)
	if want, cleared := []string{"confirm-a/cm-1", "confirm-a/cm-2", "confirm-b/cm-0", "confirm-b/cm-3"}, clearedIDs(got); fmt.Sprint(cleared) != fmt.Sprint(want) {
		t.Errorf("to compare again: %v, want %v", cleared, want)
	}
	if cleared := clearedIDs(last); fmt.Sprint(cleared) != "[confirm-b/cm-0]" {
		t.Errorf("the remembered memo was changed: %v to compare", cleared)
	}

	// An account that may not list the objects has every one of them compared.
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:confirm-a:nobody"}
	nobody, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if cleared := clearedIDs(reconciler.confirm(ctx, nobody, owner, last)); len(cleared) != len(last.objects) {
		t.Errorf("with a refused LIST, %d of %d compared again", len(cleared), len(last.objects))
	}
}

// The LIST is paginated: every page is read.
func TestListFingerprintsReadsEveryPage(t *testing.T) {
	owner := types.NamespacedName{Namespace: "default", Name: "pages"}
	last := appliedConfigMaps(t, owner, 5, "confirm-pages")
	selector := client.MatchingLabels{kustomizev1.NameLabel: owner.Name, kustomizev1.NamespaceLabel: owner.Namespace}
	got, err := listFingerprints(testenv.Context(t), env.Client, verifyGroup{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "confirm-pages"}, selector, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("%d objects listed, want 5", len(got))
	}
	for _, o := range last.objects {
		if got[o.key.Name] != o.fingerprint {
			t.Errorf("%s: listed fingerprint differs from the applied one", o.key)
		}
	}
}

func clearedIDs(m *memo) []string {
	var ids []string
	for id, o := range m.objects {
		if o.fingerprint == "" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
