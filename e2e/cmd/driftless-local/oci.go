package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv/ocitest"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// The OCI demo's registry credentials (the registry only listens on 127.0.0.1).
const (
	ociDemoUser     = "demo"
	ociDemoPassword = "demo-registry"
)

// startOCIDemo runs an OCI registry on 127.0.0.1 and pushes the demo's manifests to it as
// 'flux push artifact' would, as 'demo/manifests:1.0.0'.
func startOCIDemo() (*ocitest.Registry, error) {
	reg, err := ocitest.Start(ocitest.Options{Username: ociDemoUser, Password: ociDemoPassword})
	if err != nil {
		return nil, err
	}
	_, err = reg.PushFlux("demo/manifests", "1.0.0",
		map[string]string{"config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo-oci\n  namespace: default\ndata:\n  version: \"1.0.0\"\n"},
		map[string]string{"org.opencontainers.image.source": "driftless-local", "org.opencontainers.image.revision": "demo@sha1:0000000000000000000000000000000000000001"})
	if err != nil {
		reg.Server.Close()
		return nil, err
	}
	return reg, nil
}

// applyOCIDemo creates or updates the registry's pull Secret, an OCIRepository following the
// '1.x' tags of demo/manifests, and a Kustomization applying it.
func applyOCIDemo(ctx context.Context, c client.Client, reg *ocitest.Registry) error {
	auth := fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`, reg.Host, ociDemoUser, ociDemoPassword)
	objects := []client.Object{
		&corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: "demo-registry", Namespace: "default"},
			Type:       corev1.SecretTypeDockerConfigJson,
			StringData: map[string]string{corev1.DockerConfigJsonKey: auth},
		},
		&sourcev1.OCIRepository{
			TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.OCIRepositoryKind},
			ObjectMeta: metav1.ObjectMeta{Name: "demo-oci", Namespace: "default"},
			Spec: sourcev1.OCIRepositorySpec{
				URL: reg.URL + "/demo/manifests", Insecure: true, Interval: meta.Duration{Duration: time.Minute},
				Reference: &sourcev1.OCIRepositoryRef{SemVer: "1.x"},
				SecretRef: &meta.LocalObjectReference{Name: "demo-registry"},
			},
		},
		&kustomizev1.Kustomization{
			TypeMeta:   metav1.TypeMeta{APIVersion: kustomizev1.GroupVersion.String(), Kind: kustomizev1.KustomizationKind},
			ObjectMeta: metav1.ObjectMeta{Name: "demo-oci", Namespace: "default"},
			Spec: kustomizev1.KustomizationSpec{
				Interval: meta.Duration{Duration: 10 * time.Minute}, Path: "./", Prune: true,
				SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.OCIRepositoryKind, Name: "demo-oci"},
			},
		},
	}
	for _, o := range objects {
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner("driftless-local"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s: %w", o.GetName(), err)
		}
	}
	return nil
}

// ociProgress prints the OCI demo Kustomization's Ready message as it changes, until it is
// Ready.
func ociProgress(ctx context.Context, c client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := map[string]string{}
	for {
		ks := &kustomizev1.Kustomization{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "demo-oci"}, ks); err == nil &&
			report(last, "kustomization/demo-oci", ks.Generation, ks.Status.ObservedGeneration, ks.Status.Conditions) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the OCI demo Kustomization is not Ready after %s: see logs/source-controller.log and logs/kustomize-controller.log", timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
