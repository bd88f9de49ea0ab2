package controller

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// A Kustomization applies an OCIRepository's artifact and records the Git revision its
// manifest names as lastAppliedOriginRevision, also on its events; a new artifact without one
// clears it.
func TestKustomizationFromAnOCIRepository(t *testing.T) {
	namespace(t, "apps-oci")
	a := artifacts.publish(t, "oci-app", "v1.0.0@sha256:1111", map[string]string{"cm.yaml": configMap("from-oci", "apps-oci", "v1")})
	a.Metadata = map[string]string{meta.OCIRevisionAnnotation: "main@sha1:abcdef0", "org.opencontainers.image.source": "https://github.com/acme/app"}
	src := &sourcev1.OCIRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "oci-app", Namespace: "default"},
		Spec:       sourcev1.OCIRepositorySpec{URL: "oci://registry.example.com/app", Interval: meta.Duration{Duration: time.Hour}},
	}
	if err := env.Client.Create(testenv.Context(t), src); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(testenv.Context(t), src) })
	setArtifact(t, src, a)
	ks := kustomization(t, "oci-app", "oci-app", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.SourceRef.Kind = sourcev1.OCIRepositoryKind
	})
	got := waitKS(t, ks, appliedRevision("v1.0.0@sha256:1111"))
	if got.Status.LastAppliedOriginRevision != "main@sha1:abcdef0" {
		t.Errorf("lastAppliedOriginRevision = %q", got.Status.LastAppliedOriginRevision)
	}
	if !exists(t, "apps-oci", "from-oci", &corev1.ConfigMap{}) {
		t.Error("the OCI artifact was not applied")
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		list := &corev1.EventList{}
		if err := env.Client.List(testenv.Context(t), list, client.InNamespace("default")); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Name == ks.Name && e.InvolvedObject.Kind == kustomizev1.KustomizationKind &&
				e.Annotations[kustomizev1.GroupVersion.Group+"/originRevision"] == "main@sha1:abcdef0" {
				return nil
			}
		}
		return fmt.Errorf("no event with the origin revision")
	})

	b := artifacts.publish(t, "oci-app", "v1.1.0@sha256:2222", map[string]string{"cm.yaml": configMap("from-oci", "apps-oci", "v2")})
	setArtifact(t, src, b)
	if got := waitKS(t, ks, appliedRevision("v1.1.0@sha256:2222")); got.Status.LastAppliedOriginRevision != "" {
		t.Errorf("lastAppliedOriginRevision = %q after an artifact without one", got.Status.LastAppliedOriginRevision)
	}
}

// A Kustomization applies an ExternalArtifact that another tool filled, and follows its new
// artifact at once.
func TestKustomizationFromAnExternalArtifact(t *testing.T) {
	namespace(t, "apps-ext")
	src := &sourcev1.ExternalArtifact{ObjectMeta: metav1.ObjectMeta{Name: "ext-app", Namespace: "default"}}
	if err := env.Client.Create(testenv.Context(t), src); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(testenv.Context(t), src) })
	setArtifact(t, src, artifacts.publish(t, "ext-app", "v1", map[string]string{"cm.yaml": configMap("from-ext", "apps-ext", "v1")}))
	ks := kustomization(t, "ext-app", "ext-app", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.SourceRef.Kind = sourcev1.ExternalArtifactKind
	})
	waitKS(t, ks, appliedRevision("v1"))
	setArtifact(t, src, artifacts.publish(t, "ext-app", "v2", map[string]string{"cm.yaml": configMap("from-ext", "apps-ext", "v2")}))
	waitKS(t, ks, appliedRevision("v2"))
}
