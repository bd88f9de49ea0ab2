package controller

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

var appFiles = map[string]string{
	"deploy/app.yaml":          "kind: Deployment",
	"deploy/secret.enc.yaml":   "sops: true",
	"deploy/.sourceignore":     "*.enc.yaml\n",
	"docs/logo.png":            "png",
	".github/workflows/ci.yml": "on: push",
	"README.md":                "# app",
}

func TestGitRepositoryStoresBranchArtifact(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/app.git", appFiles)
	head := rp.commit(map[string]string{"deploy/extra.yaml": "kind: ConfigMap"}, "add extra\n\nbody")
	rp.push("main")

	obj := gitRepository(t, "branch", srv.url("org/app.git"))
	got := waitRevision(t, obj, "main@sha1:"+head)

	a := got.Status.Artifact
	if a.Path != "gitrepository/default/branch/"+head+".tar.gz" {
		t.Errorf("path = %s", a.Path)
	}
	if !strings.HasPrefix(a.URL, "http://"+store.Hostname+"/gitrepository/default/branch/") || !strings.HasPrefix(a.Digest, "sha256:") || a.LastUpdateTime.IsZero() {
		t.Errorf("artifact = %+v", a)
	}
	files := download(t, a)
	for _, want := range []string{"deploy/app.yaml", "deploy/extra.yaml", "README.md", "deploy/.sourceignore"} {
		if _, ok := files[want]; !ok {
			t.Errorf("artifact lacks %s: %v", want, keys(files))
		}
	}
	for _, unwanted := range []string{"docs/logo.png", ".github/workflows/ci.yml", "deploy/secret.enc.yaml"} {
		if _, ok := files[unwanted]; ok {
			t.Errorf("artifact holds excluded %s", unwanted)
		}
	}
	for _, c := range []string{meta.ReadyCondition, sourcev1.ArtifactInStorageCondition} {
		if cond := findCondition(got, c); cond == nil || cond.Status != metav1.ConditionTrue || cond.Message != "stored artifact for revision 'main@sha1:"+head+"'" {
			t.Errorf("%s = %+v", c, cond)
		}
	}
	for _, c := range []string{meta.ReconcilingCondition, meta.StalledCondition, sourcev1.FetchFailedCondition} {
		if findCondition(got, c) != nil {
			t.Errorf("%s present after success", c)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, e := range eventsFor(t, obj) {
			if e.Reason == "NewArtifact" && e.Type == corev1.EventTypeNormal && e.Message == "stored artifact for commit 'add extra'" {
				return nil
			}
		}
		return fmt.Errorf("no NewArtifact event: %+v", eventsFor(t, obj))
	})

	// The latest symlink serves the same bytes.
	latest := *a
	latest.URL = strings.TrimSuffix(a.URL, head+".tar.gz") + "latest.tar.gz"
	download(t, &latest)
}

func TestGitRepositoryRefKinds(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/refs.git", map[string]string{"v": "1"})
	first := rp.commit(map[string]string{"v": "1.0"}, "v1")
	rp.tag("v1.0.0", "release 1.0.0") // annotated
	rp.push("main")
	second := rp.commit(map[string]string{"v": "1.1"}, "v1.1")
	rp.tag("v1.1.0", "")
	rp.push("main")
	third := rp.commit(map[string]string{"v": "2.0-rc"}, "v2 rc")
	rp.tag("v2.0.0-rc.1", "")
	rp.push("main")
	rp.push("release")

	tests := []struct {
		name     string
		ref      sourcev1.GitRepositoryRef
		revision string
		content  string
	}{
		{"annotated-tag", sourcev1.GitRepositoryRef{Tag: "v1.0.0"}, "v1.0.0@sha1:" + first, "1.0"},
		{"semver", sourcev1.GitRepositoryRef{SemVer: "1.x"}, "v1.1.0@sha1:" + second, "1.1"},
		{"commit", sourcev1.GitRepositoryRef{Commit: first}, "sha1:" + first, "1.0"},
		{"branch-commit", sourcev1.GitRepositoryRef{Branch: "main", Commit: second}, "main@sha1:" + second, "1.1"},
		{"name", sourcev1.GitRepositoryRef{Name: "refs/heads/release"}, "refs/heads/release@sha1:" + third, "2.0-rc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := gitRepository(t, "ref-"+tt.name, srv.url("org/refs.git"), withRef(tt.ref))
			got := waitRevision(t, obj, tt.revision)
			if files := download(t, got.Status.Artifact); files["v"] != tt.content {
				t.Fatalf("checked out %q, want %q", files["v"], tt.content)
			}
		})
	}
}

func TestGitRepositoryBasicAuth(t *testing.T) {
	const password = "s3cr3t-p4ssw0rd"
	srv := newGitServer(t, func(s *gittestserver.GitServer) { s.Auth("flux", password) })
	rp := newRepo(t, srv, "org/private.git", map[string]string{"a.yaml": "a"})
	head := rp.commit(map[string]string{"b.yaml": "b"}, "b")
	rp.push("main")

	secret(t, "wrong-credentials", map[string]string{"username": "flux", "password": "not-the-" + password})
	obj := gitRepository(t, "private", srv.url("org/private.git"), withSecret("wrong-credentials"))

	var failed *sourcev1.GitRepository
	testenv.Eventually(t, 30*time.Second, func() error {
		failed = get(t, obj)
		c := findCondition(failed, meta.ReadyCondition)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != sourcev1.GitOperationFailedReason {
			return fmt.Errorf("ready = %+v", c)
		}
		return nil
	})
	if failed.Status.Artifact != nil {
		t.Errorf("artifact recorded despite failed authentication")
	}
	if c := findCondition(failed, sourcev1.FetchFailedCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("FetchFailed = %+v", c)
	}
	if c := findCondition(failed, meta.ReconcilingCondition); c == nil || c.Reason != meta.ProgressingWithRetryReason {
		t.Errorf("Reconciling = %+v", c)
	}
	assertNoSecret(t, obj, password)
	if !strings.Contains(controllerLogs.String(), "org/private.git") {
		t.Error("the failed fetch was not logged, so the log check above proves nothing")
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, e := range eventsFor(t, obj) {
			if e.Type == corev1.EventTypeWarning && e.Reason == sourcev1.GitOperationFailedReason {
				if e.Count > 1 {
					return fmt.Errorf("the same failure was reported %d times", e.Count)
				}
				return nil
			}
		}
		return fmt.Errorf("no warning event for the failure")
	})

	// Fixing the Secret and asking for a reconcile recovers.
	secret(t, "right-credentials", map[string]string{"username": "flux", "password": password})
	change(t, obj, func(o *sourcev1.GitRepository) { o.Spec.SecretRef.Name = "right-credentials" })
	waitRevision(t, obj, "main@sha1:"+head)
	assertNoSecret(t, obj, password)
}

func TestGitRepositoryMissingSecret(t *testing.T) {
	srv := newGitServer(t)
	newRepo(t, srv, "org/x.git", map[string]string{"a": "a"})
	obj := gitRepository(t, "missing-secret", srv.url("org/x.git"), withSecret("does-not-exist"))
	testenv.Eventually(t, 30*time.Second, func() error {
		c := findCondition(get(t, obj), meta.ReadyCondition)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != sourcev1.AuthenticationFailedReason ||
			!strings.Contains(c.Message, "secret 'default/does-not-exist' not found") {
			return fmt.Errorf("ready = %+v", c)
		}
		return nil
	})
}

// assertNoSecret checks that a credential appears in no condition, event or log line.
func assertNoSecret(t *testing.T, obj *sourcev1.GitRepository, secretValue string) {
	t.Helper()
	if strings.Contains(controllerLogs.String(), secretValue) {
		t.Errorf("the controller logged the secret")
	}
	got := get(t, obj)
	for _, c := range got.Status.Conditions {
		if strings.Contains(c.Message, secretValue) {
			t.Errorf("condition %s leaks the secret: %q", c.Type, c.Message)
		}
	}
	for _, e := range eventsFor(t, obj) {
		if strings.Contains(e.Message, secretValue) {
			t.Errorf("event %s leaks the secret: %q", e.Reason, e.Message)
		}
	}
}

func TestGitRepositoryNoChangeReconcileSkipsClone(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/quiet.git", map[string]string{"a": "a"})
	head := rp.commit(map[string]string{"b": "b"}, "b")
	rp.push("main")
	obj := gitRepository(t, "quiet", srv.url("org/quiet.git"))
	before := waitRevision(t, obj, "main@sha1:"+head)
	packs := srv.packRequests.Load()
	countNewArtifact := func() int {
		n := 0
		for _, e := range eventsFor(t, obj) {
			if e.Reason == "NewArtifact" {
				n += int(e.Count)
			}
		}
		return n
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if countNewArtifact() == 0 {
			return fmt.Errorf("no NewArtifact event yet")
		}
		return nil
	})

	after := requestReconcile(t, obj)
	if got := srv.packRequests.Load(); got != packs {
		t.Errorf("a no-change reconcile fetched packs: %d -> %d", packs, got)
	}
	if !after.Status.Artifact.LastUpdateTime.Equal(&before.Status.Artifact.LastUpdateTime) || after.Status.Artifact.Digest != before.Status.Artifact.Digest {
		t.Errorf("a no-change reconcile rewrote the artifact: %+v -> %+v", before.Status.Artifact, after.Status.Artifact)
	}
	if !isReady(after) {
		t.Errorf("not Ready after a no-change reconcile: %+v", after.Status.Conditions)
	}
	if newArtifactEvents := countNewArtifact(); newArtifactEvents != 1 {
		t.Errorf("%d NewArtifact events for one revision, want 1", newArtifactEvents)
	}

	// Changing a setting that shapes the artifact rebuilds it without a new commit.
	change(t, obj, func(o *sourcev1.GitRepository) { o.Spec.Ignore = ptr("b\n") })
	testenv.Eventually(t, 30*time.Second, func() error {
		g := get(t, obj)
		if g.Status.ObservedGeneration != g.Generation || g.Status.ObservedIgnore == nil {
			return fmt.Errorf("ignore change not applied yet")
		}
		if _, ok := download(t, g.Status.Artifact)["b"]; ok {
			return fmt.Errorf("b still in the artifact")
		}
		return nil
	})
}

func TestGitRepositoryFollowsNewAndForcePushedCommits(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/moving.git", map[string]string{"v": "1"})
	first := rp.commit(map[string]string{"v": "2"}, "two")
	rp.push("main")
	obj := gitRepository(t, "moving", srv.url("org/moving.git"))
	one := waitRevision(t, obj, "main@sha1:"+first)

	second := rp.commit(map[string]string{"v": "3"}, "three")
	rp.push("main")
	requestReconcile(t, obj)
	two := waitRevision(t, obj, "main@sha1:"+second)
	if two.Status.Artifact.Digest == one.Status.Artifact.Digest {
		t.Fatal("new commit, same digest")
	}

	// Rewrite history: the branch goes back to the first commit and gets a different one.
	rp.resetHard(first)
	rewritten := rp.commit(map[string]string{"v": "3-rewritten"}, "rewritten")
	rp.push("main")
	requestReconcile(t, obj)
	got := waitRevision(t, obj, "main@sha1:"+rewritten)
	if files := download(t, got.Status.Artifact); files["v"] != "3-rewritten" {
		t.Fatalf("content after force-push = %q", files["v"])
	}
}

func TestGitRepositoryKeepsLastArtifactWhenRemoteFails(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/doomed.git", map[string]string{"a": "a"})
	head := rp.commit(map[string]string{"b": "b"}, "b")
	rp.push("main")
	obj := gitRepository(t, "doomed", srv.url("org/doomed.git"))
	good := waitRevision(t, obj, "main@sha1:"+head)

	if err := os.RemoveAll(filepath.Join(srv.Root(), "org/doomed.git")); err != nil {
		t.Fatal(err)
	}
	failed := requestReconcile(t, obj)
	c := findCondition(failed, meta.ReadyCondition)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != sourcev1.GitOperationFailedReason {
		t.Fatalf("ready = %+v", c)
	}
	if failed.Status.Artifact == nil || !equality.Semantic.DeepEqual(failed.Status.Artifact, good.Status.Artifact) {
		t.Fatalf("artifact changed after a failed fetch: %+v", failed.Status.Artifact)
	}
	download(t, failed.Status.Artifact) // still served, digest still valid
}

func TestGitRepositoryRebuildsCorruptArtifact(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/fragile.git", map[string]string{"a": "a"})
	head := rp.commit(map[string]string{"b": "b"}, "b")
	rp.push("main")
	obj := gitRepository(t, "fragile", srv.url("org/fragile.git"))
	good := waitRevision(t, obj, "main@sha1:"+head)

	p, err := store.LocalPath(*good.Status.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	requestReconcile(t, obj)
	got := waitRevision(t, obj, "main@sha1:"+head)
	if got.Status.Artifact.Digest != good.Status.Artifact.Digest {
		t.Fatalf("rebuilt artifact differs: %s vs %s", got.Status.Artifact.Digest, good.Status.Artifact.Digest)
	}
	download(t, got.Status.Artifact)
}

func TestGitRepositoryDeletionRemovesArtifacts(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/gone.git", map[string]string{"a": "a"})
	head := rp.commit(map[string]string{"b": "b"}, "b")
	rp.push("main")
	obj := gitRepository(t, "gone", srv.url("org/gone.git"))
	got := waitRevision(t, obj, "main@sha1:"+head)
	if len(got.Finalizers) != 1 || got.Finalizers[0] != meta.Finalizer {
		t.Fatalf("finalizers = %v", got.Finalizers)
	}
	p, _ := store.LocalPath(*got.Status.Artifact)
	dir := filepath.Dir(p)

	if err := env.Client.Delete(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(obj), &sourcev1.GitRepository{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("still present: %v", err)
		}
		return nil
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("artifact directory survives the object: %v", err)
	}
	if resp, err := http.Get(got.Status.Artifact.URL); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("deleted artifact still served: %s", resp.Status)
		}
	}
}

func TestGitRepositorySuspended(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/paused.git", map[string]string{"a": "a"})
	head := rp.commit(map[string]string{"b": "b"}, "b")
	rp.push("main")
	obj := gitRepository(t, "paused", srv.url("org/paused.git"))
	waitRevision(t, obj, "main@sha1:"+head)

	change(t, obj, func(o *sourcev1.GitRepository) { o.Spec.Suspend = true })
	rp.commit(map[string]string{"c": "c"}, "c")
	rp.push("main")
	wp := newRepo(t, srv, "org/witness.git", map[string]string{"a": "a"})
	wh := wp.commit(map[string]string{"w": "1"}, "w1")
	wp.push("main")
	witness := gitRepository(t, "paused-witness", srv.url("org/witness.git"))
	waitRevision(t, witness, "main@sha1:"+wh)
	packs := srv.packRequests.Load()
	value := time.Now().Format(time.RFC3339Nano)
	change(t, obj, func(o *sourcev1.GitRepository) {
		o.Annotations = map[string]string{meta.ReconcileRequestAnnotation: value}
	})
	// The barrier: a request to a witness, made after the one to the suspended object and
	// handled after it (one clone later), so that once the witness has handled it, the
	// suspended object has had its chance to (wrongly) act.
	wh = wp.commit(map[string]string{"w": "2"}, "w2")
	wp.push("main")
	change(t, witness, func(o *sourcev1.GitRepository) {
		o.Annotations = map[string]string{meta.ReconcileRequestAnnotation: value}
	})
	waitRevision(t, witness, "main@sha1:"+wh)
	if g := get(t, obj); g.Status.Artifact.Revision != "main@sha1:"+head || g.Status.LastHandledReconcileAt == value {
		t.Fatalf("a suspended GitRepository was reconciled: %+v", g.Status)
	}
	if got := srv.packRequests.Load(); got != packs+1 {
		t.Fatalf("%d packs fetched after the suspension, want only the witness's", got-packs)
	}
}

func isReady(obj *sourcev1.GitRepository) bool {
	c := findCondition(obj, meta.ReadyCondition)
	return c != nil && c.Status == metav1.ConditionTrue
}

func ptr[T any](v T) *T { return &v }

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// maxTestFileBytes is the suite's --artifact-max-file-size.
const maxTestFileBytes = 1 << 20

// A commit with a file larger than an artifact may hold is refused by name, and the last
// artifact stays served.
func TestGitRepositoryRefusesAFileTooLargeToPack(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/big.git", map[string]string{"app.yaml": "app"})
	good := rp.commit(map[string]string{"b.yaml": "b"}, "b")
	rp.push("main")
	obj := gitRepository(t, "big", srv.url("org/big.git"))
	before := waitRevision(t, obj, "main@sha1:"+good).Status.Artifact

	rp.commit(map[string]string{"dump.sql": strings.Repeat("x", maxTestFileBytes+1)}, "a database dump")
	rp.push("main")
	requestReconcile(t, obj)
	testenv.Eventually(t, 30*time.Second, func() error {
		g := get(t, obj)
		c := findCondition(g, sourcev1.StorageOperationFailedCondition)
		if c == nil || c.Reason != sourcev1.ArchiveOperationFailedReason || !strings.Contains(c.Message, "file 'dump.sql' holds 1048577 bytes") {
			return fmt.Errorf("storage condition = %+v", c)
		}
		if g.Status.Artifact == nil || g.Status.Artifact.Revision != before.Revision {
			return fmt.Errorf("the last artifact was not kept: %+v", g.Status.Artifact)
		}
		return nil
	})
	download(t, before) // still served, and still its digest
}
