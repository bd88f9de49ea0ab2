package controller

import (
	"crypto/ecdsa"
	"crypto/ed25519"
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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	"github.com/driftless-dev/driftless/pkg/testenv/ocitest"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/helm/helmtest"
)

// requestChart asks for a reconcile and waits until it is handled.
func requestChart(t *testing.T, obj *sourcev1.HelmChart) {
	t.Helper()
	value := time.Now().Format(time.RFC3339Nano)
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, value))
	if err := env.Client.Patch(testenv.Context(t), obj.DeepCopy(), client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	waitChart(t, obj, func(o *sourcev1.HelmChart, _ *metav1.Condition) error {
		if o.Status.LastHandledReconcileAt != value {
			return fmt.Errorf("lastHandledReconcileAt = %q, want %q", o.Status.LastHandledReconcileAt, value)
		}
		return nil
	})
}

// updateSecret replaces a Secret's data.
func updateSecret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(testenv.Context(t), types.NamespacedName{Namespace: "default", Name: name}, s); err != nil {
		t.Fatal(err)
	}
	s.Data, s.StringData = nil, data
	if err := env.Client.Update(testenv.Context(t), s); err != nil {
		t.Fatal(err)
	}
}

// A HelmChart from an 'oci' HelmRepository over TLS with a dockerconfigjson Secret: the highest
// tag the range allows ('_' for '+'), the exact tag of an exact version, nothing downloaded
// while the tag names the same manifest, a pushed version followed on the next reconcile; a
// refused credential and a layer that is not a chart keep the last artifact, and no password
// reaches a condition or an event.
func TestHelmChartFromAnOCIHelmRepository(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{Username: "puller", Password: "oci-s3cret", TLS: true})
	archives := map[string][]byte{}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0+build.5", "2.0.0-rc.1"} {
		archives[v] = chartFiles(t, "app", v)
		reg.PushChart(t, "charts", "app", v, archives[v])
	}
	dockerConfig := func(user, pass string) string {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		return `{"auths":{"` + reg.Host + `":{"auth":"` + auth + `"}}}`
	}
	secret(t, "oci-auth", map[string]string{".dockerconfigjson": dockerConfig("puller", "oci-s3cret")})
	secret(t, "oci-ca", map[string]string{"ca.crt": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.Server.Certificate().Raw}))})
	helmRepository(t, "oci-charts", reg.URL+"/charts", func(r *sourcev1.HelmRepository) {
		r.Spec.Type = sourcev1.HelmRepositoryTypeOCI
		r.Spec.SecretRef = &meta.LocalObjectReference{Name: "oci-auth"}
		r.Spec.CertSecretRef = &meta.LocalObjectReference{Name: "oci-ca"}
	})

	ranged := helmChart(t, "oci-app", "oci-charts", "app", "1.x")
	got := waitChart(t, ranged, chartAt("1.2.0+build.5"))
	if c := readyOf(got.Status.Conditions); c.Reason != sourcev1.ChartPullSucceededReason || c.Message != "pulled 'app' chart with version '1.2.0+build.5'" {
		t.Errorf("Ready: %s %s", c.Reason, c.Message)
	}
	resp, err := http.Get(got.Status.Artifact.URL)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(served) != string(archives["1.2.0+build.5"]) {
		t.Error("the served artifact is not the pushed chart")
	}
	waitChart(t, helmChart(t, "oci-app-exact", "oci-charts", "app", "1.0.0"), chartAt("1.0.0"))
	waitChart(t, helmChart(t, "oci-app-rc", "oci-charts", "app", ">=2.0.0-0"), chartAt("2.0.0-rc.1"))

	pulls := reg.BlobPulls()
	requestChart(t, ranged)
	if n := reg.BlobPulls() - pulls; n != 0 {
		t.Errorf("the unchanged tag was downloaded again (%d blobs)", n)
	}
	archives["1.3.0"] = chartFiles(t, "app", "1.3.0")
	reg.PushChart(t, "charts", "app", "1.3.0", archives["1.3.0"])
	requestChart(t, ranged)
	waitChart(t, ranged, chartAt("1.3.0"))

	// A layer that is not a chart: BuildFailed, the last chart stays.
	reg.PushChart(t, "charts", "app", "1.4.0", []byte("not a gzip"))
	requestChart(t, ranged)
	bad := waitChart(t, ranged, chartFailed(metav1.ConditionFalse, sourcev1.ChartPullFailedReason, "version '1.4.0'"))
	if bad.Status.Artifact == nil || bad.Status.Artifact.Revision != "1.3.0" {
		t.Errorf("the last artifact was lost: %+v", bad.Status.Artifact)
	}
	hostile := helmtest.ChartArchive(t, map[string]string{"app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.5.0\n", "app/../../escape": "x"})
	reg.PushChart(t, "charts", "app", "1.5.0", hostile)
	requestChart(t, ranged)
	waitChart(t, ranged, chartFailed(metav1.ConditionFalse, sourcev1.ChartPullFailedReason, "version '1.5.0'"))

	// A chart from Git whose dependency is in the registry: pulled with the HelmRepository's
	// credentials and TLS, the version Chart.lock pins.
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/umbrella.git", map[string]string{
		"umbrella/Chart.yaml": "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- name: app\n  version: 1.x\n  repository: " + reg.URL + "/charts/\n",
		"umbrella/Chart.lock": "dependencies:\n- name: app\n  repository: " + reg.URL + "/charts\n  version: 1.1.0\n",
	})
	head := rp.commit(map[string]string{"README.md": "umbrella"}, "readme")
	rp.push("main")
	waitRevision(t, gitRepository(t, "umbrella-git", srv.url("org/umbrella.git")), "main@sha1:"+head)
	umbrella := waitChart(t, helmChart(t, "umbrella", "umbrella-git", "umbrella", "", func(c *sourcev1.HelmChart) {
		c.Spec.SourceRef = sourcev1.LocalHelmChartSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "umbrella-git"}
	}), chartAt("0.1.0"))
	resp, err = http.Get(umbrella.Status.Artifact.URL)
	if err != nil {
		t.Fatal(err)
	}
	served, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if files := helmtest.Files(t, served); files["umbrella/charts/app-1.1.0.tgz"] == "" {
		t.Errorf("the OCI dependency is not in the package: %v", keys(files))
	}

	// A refused credential: AuthenticationFailed, nothing told.
	updateSecret(t, "oci-auth", map[string]string{".dockerconfigjson": dockerConfig("puller", "wrong-s3cret")})
	requestChart(t, ranged)
	denied := waitChart(t, ranged, chartFailed(metav1.ConditionFalse, sourcev1.AuthenticationFailedReason, "the registry refused the credentials"))
	if denied.Status.Artifact == nil || denied.Status.Artifact.Revision != "1.3.0" {
		t.Errorf("the last artifact was lost: %+v", denied.Status.Artifact)
	}
	for _, e := range eventsFor(t, denied) {
		if strings.Contains(e.Message, "s3cret") {
			t.Errorf("a password is in an event: %s", e.Message)
		}
	}
	for _, c := range denied.Status.Conditions {
		if strings.Contains(c.Message, "s3cret") {
			t.Errorf("a password is in condition %s: %s", c.Type, c.Message)
		}
	}

	// A cloud provider cannot log in here: stalled, with the reason Flux gives.
	helmRepository(t, "oci-aws", reg.URL+"/charts", func(r *sourcev1.HelmRepository) {
		r.Spec.Type, r.Spec.Provider = sourcev1.HelmRepositoryTypeOCI, "aws"
	})
	waitChart(t, helmChart(t, "oci-aws-app", "oci-aws", "app", "1.x"), func(o *sourcev1.HelmChart, c *metav1.Condition) error {
		if c.Reason != sourcev1.InvalidProviderConfigReason || !strings.Contains(c.Message, "provider 'aws'") || readyOf(o.Status.Conditions) == nil {
			return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
}

// verify with cosign public keys: a signed chart is pulled and SourceVerified; an unsigned or
// untrusted new version is refused with VerificationError and the verified chart stays; a
// trusted key added to the Secret lets it through; keyless and notation are refused as
// impossible here.
func TestHelmChartVerifiesCosignSignatures(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{})
	trusted, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	signed := reg.PushChart(t, "signed", "app", "1.0.0", chartFiles(t, "app", "1.0.0"))
	reg.SignCosign(t, "signed/app", signed, trusted, "")
	secret(t, "cosign-keys", map[string]string{"cosign.pub": ocitest.PublicKeyPEM(t, trusted)})
	helmRepository(t, "oci-signed", reg.URL+"/signed", func(r *sourcev1.HelmRepository) {
		r.Spec.Type, r.Spec.Insecure = sourcev1.HelmRepositoryTypeOCI, true
	})
	verify := func(provider string, keys string) func(*sourcev1.HelmChart) {
		return func(c *sourcev1.HelmChart) {
			c.Spec.Verify = &sourcev1.OCIRepositoryVerification{Provider: provider}
			if keys != "" {
				c.Spec.Verify.SecretRef = &meta.LocalObjectReference{Name: keys}
			}
		}
	}
	sourceVerified := func(status metav1.ConditionStatus, reason, text string) func(*sourcev1.HelmChart, *metav1.Condition) error {
		return func(o *sourcev1.HelmChart, _ *metav1.Condition) error {
			for _, c := range o.Status.Conditions {
				if c.Type == sourcev1.SourceVerifiedCondition && c.Status == status && c.Reason == reason && strings.Contains(c.Message, text) {
					return nil
				}
			}
			return fmt.Errorf("SourceVerified is not %s %s %q: %+v", status, reason, text, o.Status.Conditions)
		}
	}

	chart := helmChart(t, "verified", "oci-signed", "app", "1.x", verify("cosign", "cosign-keys"))
	waitChart(t, chart, chartAt("1.0.0"))
	waitChart(t, chart, sourceVerified(metav1.ConditionTrue, meta.SucceededReason, "verified signature of version '1.0.0'"))

	unsigned := reg.PushChart(t, "signed", "app", "1.1.0", chartFiles(t, "app", "1.1.0"))
	requestChart(t, chart)
	got := waitChart(t, chart, chartFailed(metav1.ConditionFalse, sourcev1.VerificationErrorReason, "no cosign signature"))
	if got.Status.Artifact == nil || got.Status.Artifact.Revision != "1.0.0" {
		t.Errorf("the verified chart was lost: %+v", got.Status.Artifact)
	}
	waitChart(t, chart, sourceVerified(metav1.ConditionFalse, sourcev1.VerificationErrorReason, "version '1.1.0'"))

	reg.SignCosign(t, "signed/app", unsigned, other, "")
	requestChart(t, chart)
	waitChart(t, chart, chartFailed(metav1.ConditionFalse, sourcev1.VerificationErrorReason, "no signature verifies with the trusted keys"))

	updateSecret(t, "cosign-keys", map[string]string{"cosign.pub": ocitest.PublicKeyPEM(t, trusted), "release.pub": ocitest.PublicKeyPEM(t, other)})
	requestChart(t, chart)
	waitChart(t, chart, chartAt("1.1.0"))
	waitChart(t, chart, sourceVerified(metav1.ConditionTrue, meta.SucceededReason, "version '1.1.0'"))

	for name, opt := range map[string]func(*sourcev1.HelmChart){
		"keyless":  verify("cosign", ""),
		"notation": verify("notation", "cosign-keys"),
	} {
		waitChart(t, helmChart(t, "verify-"+name, "oci-signed", "app", "1.x", opt), func(o *sourcev1.HelmChart, c *metav1.Condition) error {
			if c.Reason != sourcev1.VerificationErrorReason || !strings.Contains(c.Message, name) || o.Status.Artifact != nil {
				return fmt.Errorf("ready %s %s: %s, artifact %+v", c.Status, c.Reason, c.Message, o.Status.Artifact)
			}
			return nil
		})
	}
}
