package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/build"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/decrypt"
)

// decryptor returns the decryptor of spec.decryption, with the keys of its secretRef (read
// with reader, as the Kustomization's account) and of --sops-age-secret (the controller's own,
// read with its identity), both from the API server: they are not cached. Returns nil when
// the Kustomization has no decryption: an encrypted object then fails the build.
func (r *KustomizationReconciler) decryptor(ctx context.Context, reader client.Reader, obj *kustomizev1.Kustomization) (build.Decryptor, error) {
	d := obj.Spec.Decryption
	if d == nil {
		return nil, nil
	}
	if d.Provider != kustomizev1.DecryptionProviderSOPS {
		return nil, fmt.Errorf("spec.decryption.provider '%s' is not supported: only 'sops'", d.Provider)
	}
	data := map[string][]byte{}
	if r.SOPSAgeSecret.Name != "" {
		// The controller's own age keys (--sops-age-secret), tried with the Kustomization's.
		fallback := &corev1.Secret{}
		err := r.APIReader.Get(ctx, r.SOPSAgeSecret, fallback)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("--sops-age-secret: reading Secret '%s': %w", r.SOPSAgeSecret, err)
		}
		for name, v := range fallback.Data {
			if strings.HasSuffix(name, ".agekey") {
				data["--sops-age-secret/"+name] = v
			}
		}
	}
	if d.SecretRef != nil {
		key := types.NamespacedName{Namespace: obj.Namespace, Name: d.SecretRef.Name}
		secret := &corev1.Secret{}
		if err := reader.Get(ctx, key, secret); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("spec.decryption.secretRef: Secret '%s' not found", key)
			}
			return nil, fmt.Errorf("spec.decryption.secretRef: reading Secret '%s': %w", key, err)
		}
		for name, v := range secret.Data {
			data[name] = v
		}
	}
	keys, err := decrypt.KeysFromSecret(data)
	if err != nil {
		return nil, fmt.Errorf("spec.decryption.secretRef: %w", err)
	}
	return keys, nil
}
