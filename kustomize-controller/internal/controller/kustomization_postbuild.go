package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/build"
)

// postBuild resolves spec.postBuild: the variables of each ConfigMap and Secret of
// substituteFrom, in order, then the inline substitute, each overriding those before. The
// referents are read with reader (as the Kustomization's account) from the API server, not
// from a cache of every ConfigMap and Secret in the cluster. A missing referent is an error
// unless it is optional. Returns nil when the Kustomization has no postBuild.
func (r *KustomizationReconciler) postBuild(ctx context.Context, reader client.Reader, obj *kustomizev1.Kustomization) (*build.Substitution, error) {
	pb := obj.Spec.PostBuild
	if pb == nil {
		return nil, nil
	}
	s := &build.Substitution{
		Variables: map[string]string{},
		Always:    pb.SubstituteStrategy == kustomizev1.SubstituteAlways,
		Strict:    r.StrictSubstitutions,
	}
	for _, ref := range pb.SubstituteFrom {
		key := types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}
		var from client.Object
		switch ref.Kind {
		case "ConfigMap":
			from = &corev1.ConfigMap{}
		case "Secret":
			from = &corev1.Secret{}
		default:
			return nil, fmt.Errorf("postBuild.substituteFrom: unsupported kind '%s'", ref.Kind)
		}
		if err := reader.Get(ctx, key, from); err != nil {
			if apierrors.IsNotFound(err) && ref.Optional {
				continue
			}
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("postBuild.substituteFrom: %s '%s' not found", ref.Kind, key)
			}
			return nil, fmt.Errorf("postBuild.substituteFrom: reading %s '%s': %w", ref.Kind, key, err)
		}
		switch o := from.(type) {
		case *corev1.ConfigMap:
			for k, v := range o.Data {
				s.Variables[k] = v
			}
		case *corev1.Secret:
			for k, v := range o.Data {
				s.Variables[k] = string(v)
			}
		}
	}
	for k, v := range pb.Substitute {
		s.Variables[k] = v
	}
	return s, nil
}

// configIndexKey indexes Kustomizations by '<kind>/<namespace>/<name>' of each ConfigMap and
// Secret they read: postBuild.substituteFrom and decryption.secretRef.
const configIndexKey = ".spec.configRefs"

func indexConfigs(o client.Object) []string {
	ks := o.(*kustomizev1.Kustomization)
	var keys []string
	if pb := ks.Spec.PostBuild; pb != nil {
		for _, ref := range pb.SubstituteFrom {
			keys = append(keys, sourceKey(ref.Kind, ks.Namespace, ref.Name))
		}
	}
	if d := ks.Spec.Decryption; d != nil && d.SecretRef != nil {
		keys = append(keys, sourceKey("Secret", ks.Namespace, d.SecretRef.Name))
	}
	return keys
}

// configReferrers maps a watched ConfigMap or Secret to the Kustomizations that read it.
func (r *KustomizationReconciler) configReferrers(ctx context.Context, o client.Object) []reconcile.Request {
	kind := "ConfigMap"
	if _, ok := o.(*corev1.Secret); ok {
		kind = "Secret"
	}
	return r.indexed(ctx, configIndexKey, sourceKey(kind, o.GetNamespace(), o.GetName()))
}
