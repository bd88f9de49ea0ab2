package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	"github.com/driftless-dev/driftless/pkg/testenv/ocitest"
	"github.com/driftless-dev/driftless/pkg/testenv/s3test"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// pushArtifact pushes dir's manifests with Flux's own 'flux push artifact', as a CI job
// would, and returns the manifest digest it reports.
func pushArtifact(t *testing.T, reg *ocitest.Registry, ref string, files map[string]string, revision string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := flux(t, "push", "artifact", reg.URL+"/"+ref, "--path="+dir, "--source=https://github.com/acme/fleet",
		"--revision="+revision, "--insecure-registry", "--creds="+reg.Username+":"+reg.Password, "--output=json")
	var pushed struct {
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &pushed); err != nil || pushed.Digest == "" {
		t.Fatalf("flux push artifact printed %q: %v", out, err)
	}
	return pushed.Digest
}

// The OCI loop with the real binaries: CI pushes manifests with 'flux push artifact' to a
// registry on 127.0.0.1 that asks for credentials; an OCIRepository following a semver range
// and a Kustomization apply them, with the Git revision the artifact came from as
// lastAppliedOriginRevision; a new push is applied after 'flux reconcile source oci', and
// 'flux get sources oci' lists it. A Bucket on an S3 server applies its prefix's manifests.
func TestOCIRepositoryLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cluster, err := env.StartCluster(ctx, testenv.ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	reg := ocitest.New(t, ocitest.Options{Username: "ci", Password: "push-and-pull"})
	storage := freeAddr(t)
	startBinary(t, t, "source-controller", "--storage-path="+t.TempDir(), "--storage-addr="+storage, "--storage-adv-addr="+storage)
	startBinary(t, t, "kustomize-controller", "--artifact-cache-dir="+t.TempDir(), "--requeue-dependency=2s")

	const ns = "oci-loop"
	createNamespace(t, ns)
	manifests := func(version string) map[string]string {
		return map[string]string{"app/config.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: %s\ndata:\n  version: %q\n", ns, version)}
	}
	d1 := pushArtifact(t, reg, "fleet/app:1.0.0", manifests("1.0.0"), "main@sha1:1111111111111111111111111111111111111111")

	auth := base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + reg.Password))
	pull := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "registry"},
		Type:       corev1.SecretTypeDockerConfigJson,
		StringData: map[string]string{corev1.DockerConfigJsonKey: `{"auths":{"` + reg.Host + `":{"auth":"` + auth + `"}}}`},
	}
	repo := &sourcev1.OCIRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: sourcev1.OCIRepositorySpec{
			URL: reg.URL + "/fleet/app", Interval: meta.Duration{Duration: time.Hour}, Insecure: true,
			Reference: &sourcev1.OCIRepositoryRef{SemVer: "1.x"},
			SecretRef: &meta.LocalObjectReference{Name: "registry"},
		},
	}
	ks := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: kustomizev1.KustomizationSpec{
			Interval: meta.Duration{Duration: time.Hour}, Path: "./app", Prune: true,
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.OCIRepositoryKind, Name: "app"},
		},
	}
	for _, o := range []client.Object{pull, repo, ks} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	key := client.ObjectKeyFromObject(ks)
	applied := func(t *testing.T, revision, origin, version string) {
		t.Helper()
		waitReadyAt(t, key, revision, 2*time.Minute)
		got := &kustomizev1.Kustomization{}
		if err := env.Client.Get(ctx, key, got); err != nil || got.Status.LastAppliedOriginRevision != origin {
			t.Errorf("lastAppliedOriginRevision %q, want %q (%v)", got.Status.LastAppliedOriginRevision, origin, err)
		}
		cm := &corev1.ConfigMap{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, cm); err != nil || cm.Data["version"] != version {
			t.Errorf("ConfigMap %v (%v), want version %s", cm.Data, err, version)
		}
	}

	t.Run("1-pushed-applied", func(t *testing.T) {
		applied(t, "1.0.0@"+d1, "main@sha1:1111111111111111111111111111111111111111", "1.0.0")
		out := flux(t, "get", "sources", "oci", "-n", ns)
		// The CLI shortens digests to 8 hex digits.
		if !strings.Contains(out, "app") || !strings.Contains(out, "True") || !strings.Contains(out, "1.0.0@"+d1[:len("sha256:")+8]) {
			t.Errorf("flux get sources oci:\n%s", out)
		}
	})

	t.Run("2-new-push-applied", func(t *testing.T) {
		d2 := pushArtifact(t, reg, "fleet/app:1.1.0", manifests("1.1.0"), "main@sha1:2222222222222222222222222222222222222222")
		pushArtifact(t, reg, "fleet/app:2.0.0", manifests("2.0.0"), "main@sha1:3333333333333333333333333333333333333333")
		flux(t, "reconcile", "source", "oci", "app", "-n", ns)
		applied(t, "1.1.0@"+d2, "main@sha1:2222222222222222222222222222222222222222", "1.1.0")
	})

	// A team that keeps manifests in S3: a Bucket with a prefix and a Kustomization.
	t.Run("3-bucket-applied", func(t *testing.T) {
		s3 := s3test.Start(s3test.Options{AccessKey: "AKIAE2E"})
		defer s3.Close()
		if err := s3.CreateBucket("fleet"); err != nil {
			t.Fatal(err)
		}
		for key, body := range map[string]string{
			"prod/app.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-s3\n  namespace: %s\n", ns),
			"dev/app.yaml":  "not: applied\n",
		} {
			if err := s3.Put("fleet", key, body); err != nil {
				t.Fatal(err)
			}
		}
		keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s3"}, StringData: map[string]string{"accesskey": "AKIAE2E", "secretkey": "e2e-secret"}}
		b := &sourcev1.Bucket{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fleet"},
			Spec: sourcev1.BucketSpec{BucketName: "fleet", Endpoint: s3.Endpoint, Insecure: true, Prefix: "prod/",
				SecretRef: &meta.LocalObjectReference{Name: "s3"}, Interval: meta.Duration{Duration: time.Hour}},
		}
		bks := &kustomizev1.Kustomization{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "from-s3"},
			Spec: kustomizev1.KustomizationSpec{
				Interval: meta.Duration{Duration: time.Hour}, Path: "./prod", Prune: true,
				SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.BucketKind, Name: "fleet"},
			},
		}
		for _, o := range []client.Object{keys, b, bks} {
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		testenv.Eventually(t, 2*time.Minute, func() error {
			return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "from-s3"}, &corev1.ConfigMap{})
		})
		out := flux(t, "get", "sources", "bucket", "-n", ns)
		if !strings.Contains(out, "fleet") || !strings.Contains(out, "True") {
			t.Errorf("flux get sources bucket:\n%s", out)
		}
	})
}
