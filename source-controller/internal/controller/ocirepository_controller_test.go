package controller

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	"github.com/driftless-dev/driftless/pkg/testenv/ocitest"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// pushFlux pushes files as 'flux push artifact' does, with its source and revision
// annotations, and returns the manifest's descriptor.
func pushFlux(t *testing.T, reg *ocitest.Registry, path, tag string, files map[string]string, revision string) ocispec.Descriptor {
	t.Helper()
	desc, err := reg.PushFlux(path, tag, files, map[string]string{
		"org.opencontainers.image.source":   "https://github.com/acme/app",
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.created":  "2026-12-01T10:00:00Z",
	})
	if err != nil {
		t.Fatal(err)
	}
	return desc
}

// ociRepository creates an OCIRepository in 'default', deleted when the test ends.
func ociRepository(t *testing.T, name, url string, mutate ...func(*sourcev1.OCIRepository)) *sourcev1.OCIRepository {
	t.Helper()
	obj := &sourcev1.OCIRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       sourcev1.OCIRepositorySpec{URL: url, Interval: meta.Duration{Duration: time.Hour}},
	}
	for _, m := range mutate {
		m(obj)
	}
	if err := env.Client.Create(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(testenv.Context(t), obj) })
	return obj
}

// waitFor polls obj until check passes against its Ready condition, and returns it.
func waitFor[T client.Object](t *testing.T, obj T, conds func(T) []metav1.Condition, check func(T, *metav1.Condition) error) T {
	t.Helper()
	got := obj.DeepCopyObject().(T)
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(obj), got); err != nil {
			return err
		}
		c := readyOf(conds(got))
		if c == nil {
			return fmt.Errorf("no Ready condition: %+v", conds(got))
		}
		return check(got, c)
	})
	return got
}

func waitOCI(t *testing.T, obj *sourcev1.OCIRepository, check func(*sourcev1.OCIRepository, *metav1.Condition) error) *sourcev1.OCIRepository {
	t.Helper()
	return waitFor(t, obj, func(o *sourcev1.OCIRepository) []metav1.Condition { return o.Status.Conditions }, check)
}

// ociAt: Ready at the current generation with the revision.
func ociAt(revision string) func(*sourcev1.OCIRepository, *metav1.Condition) error {
	return func(o *sourcev1.OCIRepository, c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || o.Status.ObservedGeneration != o.Generation || o.Status.Artifact == nil || o.Status.Artifact.Revision != revision {
			return fmt.Errorf("want Ready at %s: %s %s, artifact %+v", revision, c.Status, c.Message, o.Status.Artifact)
		}
		return nil
	}
}

// ociFailed: Ready False with the reason, its message holding text.
func ociFailed(reason, text string) func(*sourcev1.OCIRepository, *metav1.Condition) error {
	return func(o *sourcev1.OCIRepository, c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse || c.Reason != reason || !strings.Contains(c.Message, text) {
			return fmt.Errorf("want Ready False %s with %q: %s %s %s", reason, text, c.Status, c.Reason, c.Message)
		}
		return nil
	}
}

// request asks for a reconcile of obj and waits until it is handled.
func request[T client.Object](t *testing.T, obj T, handled func(T) string) {
	t.Helper()
	value := time.Now().Format(time.RFC3339Nano)
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, value))
	if err := env.Client.Patch(testenv.Context(t), obj.DeepCopyObject().(T), client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	got := obj.DeepCopyObject().(T)
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(obj), got); err != nil {
			return err
		}
		if handled(got) != value {
			return fmt.Errorf("lastHandledReconcileAt = %q, want %q", handled(got), value)
		}
		return nil
	})
}

func requestOCI(t *testing.T, obj *sourcev1.OCIRepository) {
	t.Helper()
	request(t, obj, func(o *sourcev1.OCIRepository) string { return o.Status.LastHandledReconcileAt })
}

func dockerConfigJSON(host, user, pass string) string {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return `{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`
}

// An OCIRepository over TLS with basic auth follows a tag pushed as 'flux push artifact'
// pushes: the revision is '<tag>@<digest>', the artifact holds the layer's files with the
// default exclusions, its metadata the manifest's annotations. An unchanged tag costs one
// manifest request and no download; a force-pushed tag is pulled on the next reconcile.
func TestOCIRepositoryFollowsATag(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{Username: "puller", Password: "oci-s3cret", TLS: true})
	v1 := pushFlux(t, reg, "acme/app", "v1", map[string]string{"deploy/app.yaml": "kind: ConfigMap\n", "logo.png": "png", ".sourceignore": "skip/\n", "skip/x.yaml": "x"}, "main@sha1:1111")
	secret(t, "oci-pull", map[string]string{".dockerconfigjson": dockerConfigJSON(reg.Host, "puller", "oci-s3cret")})
	secret(t, "oci-tls", map[string]string{"ca.crt": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.Server.Certificate().Raw}))})

	obj := ociRepository(t, "oci-tag", reg.URL+"/acme/app", func(o *sourcev1.OCIRepository) {
		o.Spec.Reference = &sourcev1.OCIRepositoryRef{Tag: "v1"}
		o.Spec.SecretRef = &meta.LocalObjectReference{Name: "oci-pull"}
		o.Spec.CertSecretRef = &meta.LocalObjectReference{Name: "oci-tls"}
	})
	got := waitOCI(t, obj, ociAt("v1@"+v1.Digest.String()))
	if c := readyOf(got.Status.Conditions); c.Reason != meta.SucceededReason || c.Message != "stored artifact for digest 'v1@"+v1.Digest.String()+"'" {
		t.Errorf("Ready: %s %q", c.Reason, c.Message)
	}
	a := got.Status.Artifact
	if files := download(t, a); len(files) != 2 || files["deploy/app.yaml"] != "kind: ConfigMap\n" || files[".sourceignore"] == "" {
		t.Errorf("artifact files: %v", files)
	}
	if a.Metadata["org.opencontainers.image.revision"] != "main@sha1:1111" || a.Metadata["org.opencontainers.image.source"] != "https://github.com/acme/app" {
		t.Errorf("metadata: %v", a.Metadata)
	}
	if !strings.HasSuffix(a.Path, "/"+v1.Digest.Encoded()+".tar.gz") || !strings.HasSuffix(got.Status.URL, "/latest.tar.gz") {
		t.Errorf("path %s, url %s", a.Path, got.Status.URL)
	}
	var announced bool
	for _, e := range eventsFor(t, got) {
		announced = announced || (e.Reason == "NewArtifact" && strings.Contains(e.Message, v1.Digest.String()))
	}
	if !announced {
		t.Error("no NewArtifact event")
	}

	requests, pulls := reg.Requests(), reg.BlobPulls()
	requestOCI(t, obj)
	if n, b := reg.Requests()-requests, reg.BlobPulls()-pulls; n != 1 || b != 0 {
		t.Errorf("an unchanged tag cost %d requests and %d blob downloads, want 1 and 0", n, b)
	}

	v1b := pushFlux(t, reg, "acme/app", "v1", map[string]string{"deploy/app.yaml": "kind: Secret\n"}, "main@sha1:2222")
	requestOCI(t, obj)
	got = waitOCI(t, obj, ociAt("v1@"+v1b.Digest.String()))
	if files := download(t, got.Status.Artifact); files["deploy/app.yaml"] != "kind: Secret\n" || got.Status.Artifact.Metadata["org.opencontainers.image.revision"] != "main@sha1:2222" {
		t.Errorf("force-pushed tag: %v %v", files, got.Status.Artifact.Metadata)
	}
}

// Every kind of reference: 'latest' by default, the highest semver tag (with a filter, and a
// new one picked up), a digest (named by its digest alone), and a plain image's first layer.
func TestOCIRepositoryReferences(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{})
	files := func(v string) map[string]string { return map[string]string{"version.txt": v} }
	latest := pushFlux(t, reg, "refs", "latest", files("latest"), "")
	pushFlux(t, reg, "refs", "1.0.0", files("1.0.0"), "")
	v11 := pushFlux(t, reg, "refs", "v1.1.0", files("1.1.0"), "")
	pushFlux(t, reg, "refs", "2.0.0-rc.1", files("2.0.0-rc.1"), "")
	pushFlux(t, reg, "refs", "1.2.0-dev", files("1.2.0-dev"), "")
	insecure := func(o *sourcev1.OCIRepository) { o.Spec.Insecure = true }

	waitOCI(t, ociRepository(t, "oci-latest", reg.URL+"/refs", insecure), ociAt("latest@"+latest.Digest.String()))

	ranged := ociRepository(t, "oci-semver", reg.URL+"/refs", insecure, func(o *sourcev1.OCIRepository) {
		o.Spec.Reference = &sourcev1.OCIRepositoryRef{SemVer: "1.x", Tag: "latest"}
	})
	waitOCI(t, ranged, ociAt("v1.1.0@"+v11.Digest.String()))
	v13 := pushFlux(t, reg, "refs", "1.3.0", files("1.3.0"), "")
	requestOCI(t, ranged)
	got := waitOCI(t, ranged, ociAt("1.3.0@"+v13.Digest.String()))
	if f := download(t, got.Status.Artifact); f["version.txt"] != "1.3.0" {
		t.Errorf("semver artifact: %v", f)
	}

	dev := ociRepository(t, "oci-filter", reg.URL+"/refs", insecure, func(o *sourcev1.OCIRepository) {
		o.Spec.Reference = &sourcev1.OCIRepositoryRef{SemVer: ">=1.0.0-0", SemverFilter: ".*-dev$"}
	})
	waitOCI(t, dev, ociAt("1.2.0-dev@"+pushFlux(t, reg, "refs", "1.2.0-dev", files("1.2.0-dev"), "").Digest.String()))

	pinned := ociRepository(t, "oci-digest", reg.URL+"/refs", insecure, func(o *sourcev1.OCIRepository) {
		o.Spec.Reference = &sourcev1.OCIRepositoryRef{Digest: v11.Digest.String(), Tag: "latest"}
	})
	waitOCI(t, pinned, ociAt(v11.Digest.String()))

	image := reg.Push(t, "image", "3.0", ocispec.MediaTypeImageConfig, []byte("{}"), []ocitest.Layer{
		{MediaType: ocispec.MediaTypeImageLayerGzip, Data: tarball(t, map[string]string{"etc/app.conf": "a=1"})},
		{MediaType: ocispec.MediaTypeImageLayerGzip, Data: tarball(t, map[string]string{"usr/bin/app": "bin"})},
	}, nil)
	img := ociRepository(t, "oci-image", reg.URL+"/image", insecure, func(o *sourcev1.OCIRepository) {
		o.Spec.Reference = &sourcev1.OCIRepositoryRef{Tag: "3.0"}
	})
	got = waitOCI(t, img, ociAt("3.0@"+image.Digest.String()))
	if f := download(t, got.Status.Artifact); len(f) != 1 || f["etc/app.conf"] != "a=1" {
		t.Errorf("an image's artifact is not its first layer: %v", f)
	}

	// What cannot match is the spec's fault: Stalled, not retried.
	bad := ociRepository(t, "oci-bad-range", reg.URL+"/refs", insecure, func(o *sourcev1.OCIRepository) {
		o.Spec.Reference = &sourcev1.OCIRepositoryRef{SemVer: "not a range"}
	})
	got = waitOCI(t, bad, ociFailed(sourcev1.OCIPullFailedReason, "invalid semver range"))
	if !hasCondition(got.Status.Conditions, meta.StalledCondition, metav1.ConditionTrue) {
		t.Errorf("an invalid range is not Stalled: %+v", got.Status.Conditions)
	}
	unknown := ociRepository(t, "oci-gone-digest", reg.URL+"/refs", insecure, func(o *sourcev1.OCIRepository) {
		o.Spec.Reference = &sourcev1.OCIRepositoryRef{Digest: "sha256:" + strings.Repeat("ab", 32)}
	})
	waitOCI(t, unknown, ociFailed(sourcev1.OCIPullFailedReason, "not found"))
	cloud := ociRepository(t, "oci-aws", reg.URL+"/refs", insecure, func(o *sourcev1.OCIRepository) { o.Spec.Provider = "aws" })
	waitOCI(t, cloud, ociFailed(sourcev1.InvalidProviderConfigReason, "provider 'aws'"))
}

func hasCondition(conds []metav1.Condition, typ string, status metav1.ConditionStatus) bool {
	for _, c := range conds {
		if c.Type == typ {
			return c.Status == status
		}
	}
	return false
}

// hostileTarGz is a tar.gz with one entry that an artifact must not hold.
func hostileTarGz(t *testing.T, hdr *tar.Header, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	ok := []byte("kind: ConfigMap\n")
	if err := tw.WriteHeader(&tar.Header{Name: "ok.yaml", Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(ok))}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(ok)
	hdr.Size = int64(len(body))
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Wrong credentials, hostile layers (a path leaving the root, a link, a decompression bomb,
// not a gzip), a missing media type and a registry that went away each fail the fetch with
// the reason Flux gives, keep the last artifact, and show no password anywhere. 'copy' stores
// the selected layer byte for byte.
func TestOCIRepositoryKeepsTheLastArtifact(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{Username: "puller", Password: "right-pass"})
	good := pushFlux(t, reg, "hostile", "v1", map[string]string{"ok.yaml": "kind: ConfigMap\n"}, "")
	secret(t, "oci-wrong", map[string]string{".dockerconfigjson": dockerConfigJSON(reg.Host, "puller", "wr0ng-pa55word")})
	secret(t, "oci-right", map[string]string{".dockerconfigjson": dockerConfigJSON(reg.Host, "puller", "right-pass")})
	obj := ociRepository(t, "oci-hostile", reg.URL+"/hostile", func(o *sourcev1.OCIRepository) {
		o.Spec.Insecure = true
		o.Spec.Reference = &sourcev1.OCIRepositoryRef{Tag: "v1"}
		o.Spec.SecretRef = &meta.LocalObjectReference{Name: "oci-right"}
	})
	waitOCI(t, obj, ociAt("v1@"+good.Digest.String()))
	kept := func(o *sourcev1.OCIRepository) {
		t.Helper()
		if o.Status.Artifact == nil || o.Status.Artifact.Revision != "v1@"+good.Digest.String() {
			t.Errorf("the last artifact was lost: %+v", o.Status.Artifact)
		}
	}

	patchOCI(t, obj, func(o *sourcev1.OCIRepository) { o.Spec.SecretRef.Name = "oci-wrong" })
	kept(waitOCI(t, obj, ociFailed(sourcev1.AuthenticationFailedReason, "refused the credentials")))
	patchOCI(t, obj, func(o *sourcev1.OCIRepository) { o.Spec.SecretRef.Name = "oci-right" })

	bomb := bytes.Repeat([]byte{0}, maxTestFileBytes+1)
	for name, layer := range map[string][]byte{
		"v2": hostileTarGz(t, &tar.Header{Name: "../escape.yaml", Typeflag: tar.TypeReg, Mode: 0o600}, []byte("x")),
		"v3": hostileTarGz(t, &tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, nil),
		"v4": hostileTarGz(t, &tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Mode: 0o600}, bomb),
		"v5": []byte("not a gzip at all"),
	} {
		reg.Push(t, "hostile", name, ocitest.FluxConfigMediaType, []byte("{}"), []ocitest.Layer{{MediaType: ocitest.FluxContentMediaType, Data: layer}}, nil)
		patchOCI(t, obj, func(o *sourcev1.OCIRepository) { o.Spec.Reference.Tag = name })
		kept(waitOCI(t, obj, ociFailed(sourcev1.OCILayerOperationFailedReason, "cannot be extracted")))
	}
	patchOCI(t, obj, func(o *sourcev1.OCIRepository) {
		o.Spec.Reference.Tag = "v1"
		o.Spec.LayerSelector = &sourcev1.OCILayerSelector{MediaType: "application/vnd.example.missing"}
	})
	kept(waitOCI(t, obj, ociFailed(sourcev1.OCILayerOperationFailedReason, "no layer of media type 'application/vnd.example.missing'")))

	// copy: the layer as it is (here a chart-like archive, as a HelmRelease chartRef uses).
	chart := []byte("\x1f\x8b not extracted, stored as it is")
	copied := reg.Push(t, "hostile", "chart", "application/vnd.cncf.helm.config.v1+json", []byte("{}"), []ocitest.Layer{
		{MediaType: "application/vnd.example.readme", Data: []byte("readme")},
		{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Data: chart},
	}, nil)
	patchOCI(t, obj, func(o *sourcev1.OCIRepository) {
		o.Spec.Reference.Tag = "chart"
		o.Spec.LayerSelector = &sourcev1.OCILayerSelector{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Operation: sourcev1.OCILayerCopy}
	})
	got := waitOCI(t, obj, ociAt("chart@"+copied.Digest.String()))
	if body := fetchBytes(t, got.Status.Artifact.URL); !bytes.Equal(body, chart) {
		t.Errorf("a copied layer is not stored as it is: %q", body)
	}

	reg.Server.Close()
	requestOCI(t, obj)
	gone := waitOCI(t, obj, ociFailed(sourcev1.OCIPullFailedReason, "failed to resolve 'chart'"))
	if gone.Status.Artifact == nil || gone.Status.Artifact.Revision != "chart@"+copied.Digest.String() {
		t.Errorf("the last artifact was lost when the registry went away: %+v", gone.Status.Artifact)
	}
	noSecretAnywhere(t, gone, gone.Status.Conditions, "wr0ng-pa55word", "right-pass")
}

// noSecretAnywhere fails when a secret value is in the object's conditions, its events or
// the controllers' logs.
func noSecretAnywhere(t *testing.T, obj client.Object, conds []metav1.Condition, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, c := range conds {
			if strings.Contains(c.Message, s) {
				t.Errorf("condition %s shows a secret: %s", c.Type, c.Message)
			}
		}
		for _, e := range eventsFor(t, obj) {
			if strings.Contains(e.Message, s) {
				t.Errorf("event shows a secret: %s", e.Message)
			}
		}
		if strings.Contains(controllerLogs.String(), s) {
			t.Errorf("the logs show the secret %q", s)
		}
	}
}

// patchObject changes an object's spec or metadata with a merge patch, which does not
// conflict with the controller's status writes.
func patchObject[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	current := obj.DeepCopyObject().(T)
	if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(obj), current); err != nil {
		t.Fatal(err)
	}
	base := current.DeepCopyObject().(T)
	mutate(current)
	if err := env.Client.Patch(testenv.Context(t), current, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
}

func patchOCI(t *testing.T, obj *sourcev1.OCIRepository, mutate func(*sourcev1.OCIRepository)) {
	t.Helper()
	patchObject(t, obj, mutate)
}

// The credential can come from the image pull secrets of spec.serviceAccountName.
func TestOCIRepositoryServiceAccountPullSecrets(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{Username: "sa-user", Password: "sa-pass"})
	desc := pushFlux(t, reg, "sa/app", "latest", map[string]string{"a.yaml": "a"}, "")
	secret(t, "sa-unrelated", map[string]string{"token": "x"})
	secret(t, "sa-pull", map[string]string{".dockerconfigjson": dockerConfigJSON(reg.Host, "sa-user", "sa-pass")})
	sa := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "oci-puller", Namespace: "default"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "sa-unrelated"}, {Name: "sa-pull"}},
	}
	if err := env.Client.Create(testenv.Context(t), sa); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(testenv.Context(t), sa) })
	obj := ociRepository(t, "oci-sa", reg.URL+"/sa/app", func(o *sourcev1.OCIRepository) {
		o.Spec.Insecure = true
		o.Spec.ServiceAccountName = "oci-puller"
	})
	waitOCI(t, obj, ociAt("latest@"+desc.Digest.String()))
	patchOCI(t, obj, func(o *sourcev1.OCIRepository) { o.Spec.ServiceAccountName = "missing" })
	waitOCI(t, obj, ociFailed(sourcev1.AuthenticationFailedReason, "service account 'missing' not found"))
}

// verify with cosign public keys: a signed artifact is stored and SourceVerified; an unsigned
// one, and one whose signature names another digest, are refused before anything is stored.
// An unchanged digest is not verified again.
func TestOCIRepositoryVerifiesCosignSignatures(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed := pushFlux(t, reg, "signed", "v1", map[string]string{"a.yaml": "a"}, "")
	reg.SignCosign(t, "signed", signed, key, "")
	secret(t, "oci-cosign", map[string]string{"cosign.pub": ocitest.PublicKeyPEM(t, key)})
	obj := ociRepository(t, "oci-signed", reg.URL+"/signed", func(o *sourcev1.OCIRepository) {
		o.Spec.Insecure = true
		o.Spec.Reference = &sourcev1.OCIRepositoryRef{Tag: "v1"}
		o.Spec.Verify = &sourcev1.OCIRepositoryVerification{Provider: "cosign", SecretRef: &meta.LocalObjectReference{Name: "oci-cosign"}}
	})
	got := waitOCI(t, obj, ociAt("v1@"+signed.Digest.String()))
	if !hasCondition(got.Status.Conditions, sourcev1.SourceVerifiedCondition, metav1.ConditionTrue) {
		t.Errorf("not SourceVerified: %+v", got.Status.Conditions)
	}
	requests := reg.Requests()
	requestOCI(t, obj)
	if n := reg.Requests() - requests; n != 1 {
		t.Errorf("an unchanged, verified digest cost %d requests, want 1", n)
	}

	pushFlux(t, reg, "signed", "v2", map[string]string{"a.yaml": "unsigned"}, "")
	patchOCI(t, obj, func(o *sourcev1.OCIRepository) { o.Spec.Reference.Tag = "v2" })
	got = waitOCI(t, obj, ociFailed(sourcev1.VerificationErrorReason, "no cosign signature"))
	if got.Status.Artifact.Revision != "v1@"+signed.Digest.String() || hasCondition(got.Status.Conditions, sourcev1.SourceVerifiedCondition, metav1.ConditionTrue) {
		t.Errorf("an unsigned artifact: artifact %s, conditions %+v", got.Status.Artifact.Revision, got.Status.Conditions)
	}
	// A valid signature of another manifest, copied next to this one.
	tampered := pushFlux(t, reg, "signed", "v3", map[string]string{"a.yaml": "tampered"}, "")
	reg.SignCosign(t, "signed", tampered, key, signed.Digest.String())
	patchOCI(t, obj, func(o *sourcev1.OCIRepository) { o.Spec.Reference.Tag = "v3" })
	waitOCI(t, obj, ociFailed(sourcev1.VerificationErrorReason, "another manifest"))

	keyless := ociRepository(t, "oci-keyless", reg.URL+"/signed", func(o *sourcev1.OCIRepository) {
		o.Spec.Insecure = true
		o.Spec.Verify = &sourcev1.OCIRepositoryVerification{Provider: "cosign"}
	})
	waitOCI(t, keyless, ociFailed(sourcev1.VerificationErrorReason, "keyless"))
}

// fetchBytes GETs a URL.
func fetchBytes(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return body
}

// proxySecretRef sends the registry's requests through the proxy with its credentials; a
// wrong proxy password fails the fetch and is shown nowhere.
func TestOCIRepositoryThroughAProxy(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{})
	desc := pushFlux(t, reg, "proxied", "latest", map[string]string{"a.yaml": "a"}, "")
	proxy, forwarded := forwardProxy(t, "proxy-user", "proxy-pa55")
	secret(t, "oci-proxy", map[string]string{"address": proxy.URL, "username": "proxy-user", "password": "proxy-pa55"})
	secret(t, "oci-proxy-wrong", map[string]string{"address": proxy.URL, "username": "proxy-user", "password": "n0t-the-pa55"})
	obj := ociRepository(t, "oci-proxied", reg.URL+"/proxied", func(o *sourcev1.OCIRepository) {
		o.Spec.Insecure = true
		o.Spec.ProxySecretRef = &meta.LocalObjectReference{Name: "oci-proxy"}
	})
	waitOCI(t, obj, ociAt("latest@"+desc.Digest.String()))
	if forwarded.Load() == 0 {
		t.Error("nothing went through the proxy")
	}
	patchOCI(t, obj, func(o *sourcev1.OCIRepository) { o.Spec.ProxySecretRef.Name = "oci-proxy-wrong" })
	got := waitOCI(t, obj, ociFailed(sourcev1.OCIPullFailedReason, "failed to resolve"))
	noSecretAnywhere(t, got, got.Status.Conditions, "proxy-pa55", "n0t-the-pa55")
}
