package controller

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/runtime/tracker"
)

// Verifying with the API server (a requestedAt, or --verify-interval passed) does not trust
// the tracker, but need not cost a dry-run per object either: one LIST per kind and
// namespace, of metadata only and filtered by the owner labels, shows every applied object's
// write history as the API server has it now. An object whose history is still the one
// remembered when it was last seen equal to its build is as the controller left it; the
// others (written by anyone, deleted, relabelled) are compared with a dry-run, as before.

// verifyPageSize is how many objects one LIST of a verify asks for: the metadata of a
// thousand objects is a few hundred KiB.
const verifyPageSize = 1000

// verifyGroup is the objects of one kind in one namespace.
type verifyGroup struct {
	gvk       schema.GroupVersionKind
	namespace string
}

// confirm returns a copy of last in which every object whose live write history, as listed
// from the API server by c, is not the remembered one must be compared again: its fingerprint
// is cleared. A kind that cannot be listed (the account may get but not list, say) has all
// its objects compared.
func (r *KustomizationReconciler) confirm(ctx context.Context, c client.Reader, owner types.NamespacedName, last *memo) *memo {
	next := *last
	next.objects = make(map[string]memoObject, len(last.objects))
	groups := map[verifyGroup][]string{}
	for id, o := range last.objects {
		next.objects[id] = o
		if o.fingerprint != "" {
			g := verifyGroup{o.gvk, o.key.Namespace}
			groups[g] = append(groups[g], id)
		}
	}
	selector := client.MatchingLabels{kustomizev1.NameLabel: owner.Name, kustomizev1.NamespaceLabel: owner.Namespace}
	for g, ids := range groups {
		live, err := listFingerprints(ctx, c, g, selector, verifyPageSize)
		if err != nil {
			ctrlLog(ctx).V(1).Info("listing applied objects to verify them; comparing each instead", "kind", g.gvk.Kind, "namespace", g.namespace, "error", err.Error())
		}
		for _, id := range ids {
			o := next.objects[id]
			if live[o.key.Name] != o.fingerprint {
				o.fingerprint = ""
				next.objects[id] = o
			}
		}
	}
	return &next
}

// listFingerprints lists the metadata of the objects of a group that carry the owner labels,
// page objects at a time, and returns their fingerprints by name.
func listFingerprints(ctx context.Context, c client.Reader, g verifyGroup, selector client.MatchingLabels, page int64) (map[string]string, error) {
	out := map[string]string{}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(g.gvk.GroupVersion().WithKind(g.gvk.Kind + "List"))
	for token := ""; ; token = list.Continue {
		opts := []client.ListOption{selector, client.Limit(page), client.Continue(token)}
		if g.namespace != "" {
			opts = append(opts, client.InNamespace(g.namespace))
		}
		if err := c.List(ctx, list, opts...); err != nil {
			return nil, err
		}
		for i := range list.Items {
			out[list.Items[i].Name] = tracker.Fingerprint(&list.Items[i])
		}
		if list.Continue == "" {
			return out, nil
		}
	}
}
