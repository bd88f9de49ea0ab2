package controller

import (
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/helm"
)

// chartRepo is an HTTP chart repository on 127.0.0.1 serving an index, with basic auth when
// user is set, answering conditional requests by ETag.
type chartRepo struct {
	*httptest.Server
	mu          sync.Mutex
	index       string
	user, pass  string
	fullGets    int // GETs answered with the index
	conditional int // GETs answered 304
	// archives, when set, serves the requests for charts (.tgz) on the same host.
	archives *chartServer
}

func newChartRepo(t *testing.T, index string, tlsServer bool) *chartRepo {
	c := &chartRepo{index: index}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != c.user || p != c.pass {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		if c.archives != nil && strings.HasSuffix(r.URL.Path, ".tgz") {
			c.archives.mu.Lock()
			data, ok := c.archives.charts[strings.TrimPrefix(r.URL.Path, "/")]
			c.archives.mu.Unlock()
			if !ok {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(data)
			return
		}
		if r.URL.Path != "/charts/index.yaml" {
			http.NotFound(w, r)
			return
		}
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(c.index)))
		if r.Header.Get("If-None-Match") == etag {
			c.conditional++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		c.fullGets++
		w.Header().Set("ETag", etag)
		_, _ = io.WriteString(w, c.index)
	})
	if tlsServer {
		c.Server = httptest.NewUnstartedServer(h)
		c.Config.ErrorLog = log.New(io.Discard, "", 0)
		c.StartTLS()
	} else {
		c.Server = httptest.NewServer(h)
	}
	t.Cleanup(c.Close)
	return c
}

func (c *chartRepo) set(f func(c *chartRepo)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

func (c *chartRepo) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fullGets, c.conditional
}

func testIndex(versions ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n  podinfo:\n")
	for _, v := range versions {
		fmt.Fprintf(&b, "  - apiVersion: v2\n    name: podinfo\n    version: %s\n    digest: %064x\n    urls:\n    - podinfo-%s.tgz\n", v, len(v), v)
	}
	b.WriteString("generated: \"2026-12-02T00:00:00Z\"\n")
	return b.String()
}

func indexRevision(index string) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(index)))
}

func helmRepository(t *testing.T, name, url string, mutate ...func(*sourcev1.HelmRepository)) *sourcev1.HelmRepository {
	t.Helper()
	obj := &sourcev1.HelmRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       sourcev1.HelmRepositorySpec{URL: url, Interval: meta.Duration{Duration: time.Hour}},
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

func getHelmRepo(t *testing.T, obj *sourcev1.HelmRepository) *sourcev1.HelmRepository {
	t.Helper()
	got := &sourcev1.HelmRepository{}
	if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(obj), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func readyOf(conds []metav1.Condition) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == meta.ReadyCondition {
			return &conds[i]
		}
	}
	return nil
}

// waitHelmRepo waits until the HelmRepository's Ready condition at its generation passes check.
func waitHelmRepo(t *testing.T, obj *sourcev1.HelmRepository, check func(*sourcev1.HelmRepository, *metav1.Condition) error) *sourcev1.HelmRepository {
	t.Helper()
	var got *sourcev1.HelmRepository
	testenv.Eventually(t, 30*time.Second, func() error {
		got = getHelmRepo(t, obj)
		c := readyOf(got.Status.Conditions)
		if c == nil || c.ObservedGeneration != got.Generation {
			return fmt.Errorf("not reconciled: %+v", got.Status.Conditions)
		}
		return check(got, c)
	})
	return got
}

func readyAtRevision(revision string) func(*sourcev1.HelmRepository, *metav1.Condition) error {
	return func(o *sourcev1.HelmRepository, c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || o.Status.Artifact == nil || o.Status.Artifact.Revision != revision {
			return fmt.Errorf("ready %s %s, artifact %+v, want %s", c.Status, c.Message, o.Status.Artifact, revision)
		}
		return nil
	}
}

func failedWith(reason, text string) func(*sourcev1.HelmRepository, *metav1.Condition) error {
	return func(o *sourcev1.HelmRepository, c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse || c.Reason != reason || !strings.Contains(c.Message, text) {
			return fmt.Errorf("ready %s %s: %s, want %s with %q", c.Status, c.Reason, c.Message, reason, text)
		}
		return nil
	}
}

func requestHelmRepo(t *testing.T, obj *sourcev1.HelmRepository) {
	t.Helper()
	value := time.Now().Format(time.RFC3339Nano)
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, value))
	if err := env.Client.Patch(testenv.Context(t), obj.DeepCopy(), client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := getHelmRepo(t, obj).Status.LastHandledReconcileAt; got != value {
			return fmt.Errorf("lastHandledReconcileAt = %q, want %q", got, value)
		}
		return nil
	})
}

// The index is stored as the artifact with its digest as the revision, served, and looked up
// chart by chart; asking again downloads nothing while the server says it is unchanged; a
// new index is a new revision, announced.
func TestHelmRepositoryStoresTheIndex(t *testing.T) {
	index := testIndex("6.9.0", "6.9.1")
	repo := newChartRepo(t, index, false)
	obj := helmRepository(t, "charts", repo.URL+"/charts/")
	got := waitHelmRepo(t, obj, readyAtRevision(indexRevision(index)))
	a := got.Status.Artifact
	if a.Digest != indexRevision(index) || !strings.HasSuffix(a.Path, ".yaml") || !strings.HasSuffix(got.Status.URL, "/index.yaml") {
		t.Errorf("artifact %+v, url %s", a, got.Status.URL)
	}
	if c := readyOf(got.Status.Conditions); c.Message != "stored artifact: revision '"+a.Revision+"'" {
		t.Errorf("Ready message: %s", c.Message)
	}
	resp, err := http.Get(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(served) != index {
		t.Errorf("the served artifact is not the index: %s", served)
	}
	dir, err := LookupDir(store, *a)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := helm.Lookup(dir, "podinfo")
	if err != nil || len(versions) != 2 || versions[1].Version != "6.9.1" {
		t.Errorf("lookup: %+v, %v", versions, err)
	}

	requestHelmRepo(t, obj)
	if full, cond := repo.counts(); full != 1 || cond != 1 {
		t.Errorf("after a request with nothing changed: %d downloads, %d not-modified answers; want 1 and 1", full, cond)
	}

	newer := testIndex("6.9.0", "6.9.1", "6.10.0")
	repo.set(func(c *chartRepo) { c.index = newer })
	requestHelmRepo(t, obj)
	got = waitHelmRepo(t, obj, readyAtRevision(indexRevision(newer)))
	if versions, err := helm.Lookup(dir, "podinfo"); err != nil || len(versions) != 3 {
		t.Errorf("the lookup after a new index: %+v, %v", versions, err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, e := range eventsFor(t, got) {
			if e.Reason == "NewArtifact" && strings.Contains(e.Message, "stored fetched index of size") {
				return nil
			}
		}
		return fmt.Errorf("no NewArtifact event")
	})
}

// Basic auth and a CA from certSecretRef reach a TLS repository; a wrong password fails with
// IndexationFailed, keeps the last artifact, and appears nowhere.
func TestHelmRepositoryAuthAndTLS(t *testing.T) {
	index := testIndex("1.0.0")
	repo := newChartRepo(t, index, true)
	repo.set(func(c *chartRepo) { c.user, c.pass = "helm", "right-password" })
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: repo.Certificate().Raw})
	secret(t, "helm-auth", map[string]string{"username": "helm", "password": "right-password"})
	secret(t, "helm-ca", map[string]string{"ca.crt": string(ca)})
	obj := helmRepository(t, "private", repo.URL+"/charts", func(o *sourcev1.HelmRepository) {
		o.Spec.SecretRef = &meta.LocalObjectReference{Name: "helm-auth"}
		o.Spec.CertSecretRef = &meta.LocalObjectReference{Name: "helm-ca"}
	})
	waitHelmRepo(t, obj, readyAtRevision(indexRevision(index)))

	untrusted := helmRepository(t, "untrusted", repo.URL+"/charts", func(o *sourcev1.HelmRepository) {
		o.Spec.SecretRef = &meta.LocalObjectReference{Name: "helm-auth"}
	})
	waitHelmRepo(t, untrusted, failedWith(sourcev1.IndexationFailedReason, "certificate"))

	repo.set(func(c *chartRepo) { c.pass, c.index = "rotated-password", testIndex("1.0.0", "1.1.0") })
	requestHelmRepo(t, obj)
	got := waitHelmRepo(t, obj, failedWith(sourcev1.IndexationFailedReason, "401 Unauthorized"))
	if got.Status.Artifact == nil || got.Status.Artifact.Revision != indexRevision(index) {
		t.Errorf("the last artifact was not kept: %+v", got.Status.Artifact)
	}
	for _, c := range got.Status.Conditions {
		if strings.Contains(c.Message, "right-password") {
			t.Errorf("condition %s shows the password: %s", c.Type, c.Message)
		}
	}
	if strings.Contains(controllerLogs.String(), "right-password") {
		t.Error("the password is in the controller's logs")
	}
}

// What is not an index fails with IndexationFailed and keeps the last artifact; a URL with no
// host is Stalled URLInvalid; an 'oci' repository is a static holder.
func TestHelmRepositoryRefusesWhatIsNotAnIndex(t *testing.T) {
	index := testIndex("2.0.0")
	repo := newChartRepo(t, index, false)
	obj := helmRepository(t, "broken", repo.URL+"/charts")
	waitHelmRepo(t, obj, readyAtRevision(indexRevision(index)))
	repo.set(func(c *chartRepo) { c.index = "<html><body>maintenance</body></html>\n" })
	requestHelmRepo(t, obj)
	got := waitHelmRepo(t, obj, failedWith(sourcev1.IndexationFailedReason, "not a Helm repository index"))
	if got.Status.Artifact == nil || got.Status.Artifact.Revision != indexRevision(index) {
		t.Errorf("the last artifact was not kept: %+v", got.Status.Artifact)
	}

	noHost := helmRepository(t, "nohost", "https://")
	testenv.Eventually(t, 30*time.Second, func() error {
		o := getHelmRepo(t, noHost)
		for _, c := range o.Status.Conditions {
			if c.Type == meta.StalledCondition && c.Reason == sourcev1.URLInvalidReason {
				return nil
			}
		}
		return fmt.Errorf("not stalled: %+v", o.Status.Conditions)
	})

	oci := helmRepository(t, "oci", "oci://registry.example.com/charts", func(o *sourcev1.HelmRepository) { o.Spec.Type = sourcev1.HelmRepositoryTypeOCI })
	// A reconcile run here, to its end, rather than a wait for the suite's to do nothing.
	direct := &HelmRepositoryReconciler{Client: env.Client, Storage: store}
	if _, err := direct.Reconcile(testenv.Context(t), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(oci)}); err != nil {
		t.Fatal(err)
	}
	o := getHelmRepo(t, oci)
	if len(o.Finalizers) > 0 || len(o.Status.Conditions) > 0 || o.Status.Artifact != nil {
		t.Errorf("an oci HelmRepository was reconciled: finalizers %v, status %+v", o.Finalizers, o.Status)
	}
}
