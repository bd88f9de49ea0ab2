package controller

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

func TestGitRepositoryInclude(t *testing.T) {
	srv := newGitServer(t)
	shared := newRepo(t, srv, "org/shared.git", map[string]string{"base/deploy.yaml": "v1", "other/x": "x"})
	sharedHead := shared.commit(map[string]string{"base/svc.yaml": "svc"}, "svc")
	shared.push("main")
	app := newRepo(t, srv, "org/app-inc.git", map[string]string{"app.yaml": "app", "vendor/base/stale.yaml": "replaced"})
	appHead := app.commit(map[string]string{"kustomization.yaml": "k"}, "k")
	app.push("main")

	sharedObj := gitRepository(t, "shared", srv.url("org/shared.git"))
	sharedReady := waitRevision(t, sharedObj, "main@sha1:"+sharedHead)

	obj := gitRepository(t, "app-inc", srv.url("org/app-inc.git"), func(o *sourcev1.GitRepository) {
		o.Spec.Include = []sourcev1.GitRepositoryInclude{{
			GitRepositoryRef: meta.LocalObjectReference{Name: "shared"},
			FromPath:         "base",
			ToPath:           "vendor/base",
		}}
	})
	got := waitRevision(t, obj, "main@sha1:"+appHead)
	files := download(t, got.Status.Artifact)
	if files["vendor/base/deploy.yaml"] != "v1" || files["vendor/base/svc.yaml"] != "svc" || files["app.yaml"] != "app" {
		t.Fatalf("files = %v", keys(files))
	}
	if _, ok := files["vendor/base/stale.yaml"]; ok {
		t.Error("toPath was merged, not replaced")
	}
	if _, ok := files["vendor/base/other/x"]; ok {
		t.Error("content outside fromPath was copied")
	}
	if len(got.Status.IncludedArtifacts) != 1 || got.Status.IncludedArtifacts[0].Digest != sharedReady.Status.Artifact.Digest {
		t.Errorf("includedArtifacts = %+v", got.Status.IncludedArtifacts)
	}
	if len(got.Status.ObservedInclude) != 1 {
		t.Errorf("observedInclude = %+v", got.Status.ObservedInclude)
	}

	// A new artifact of the included repository rebuilds the including one, with no request
	// on the including object and the same app commit.
	shared.commit(map[string]string{"base/deploy.yaml": "v2"}, "v2")
	shared.push("main")
	requestReconcile(t, sharedObj)
	testenv.Eventually(t, 30*time.Second, func() error {
		g := get(t, obj)
		if g.Status.Artifact == nil {
			return fmt.Errorf("no artifact")
		}
		if v := download(t, g.Status.Artifact)["vendor/base/deploy.yaml"]; v != "v2" {
			return fmt.Errorf("included content = %q, want v2", v)
		}
		return nil
	})
}

// A link committed on the toPath route cannot make the controller delete or write outside the
// checkout: an absolute one is resolved as if the checkout were the root, and another tenant's
// directory on the same disk is left as it was. A link inside the repository still works.
func TestGitRepositoryIncludeStaysInTheCheckout(t *testing.T) {
	srv := newGitServer(t)
	shared := newRepo(t, srv, "org/shared-links.git", map[string]string{"base/deploy.yaml": "v1"})
	sharedHead := shared.commit(map[string]string{"base/svc.yaml": "svc"}, "svc")
	shared.push("main")
	waitRevision(t, gitRepository(t, "shared-links", srv.url("org/shared-links.git")), "main@sha1:"+sharedHead)

	outside := t.TempDir() // another tenant's files
	if err := os.WriteFile(filepath.Join(outside, "keep.txt"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(outside, "base"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "base", "theirs.yaml"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	app := newRepo(t, srv, "org/app-links.git", map[string]string{"app.yaml": "app", "third_party/README": "vendored"})
	app.symlink("escape", outside, "a link out of the checkout")
	head := app.symlink("vendor", "third_party", "a link inside the repository")
	app.push("main")
	obj := gitRepository(t, "app-links", srv.url("org/app-links.git"), func(o *sourcev1.GitRepository) {
		o.Spec.Include = []sourcev1.GitRepositoryInclude{
			{GitRepositoryRef: meta.LocalObjectReference{Name: "shared-links"}, FromPath: "base", ToPath: "escape/base"},
			{GitRepositoryRef: meta.LocalObjectReference{Name: "shared-links"}, FromPath: "base", ToPath: "vendor/base"},
		}
	})
	got := waitRevision(t, obj, "main@sha1:"+head)

	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(outside, "base", "theirs.yaml")); err != nil || string(data) != "theirs" || len(entries) != 2 {
		t.Fatalf("the include wrote or deleted outside the checkout: %v, %v", entries, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "base", "deploy.yaml")); !os.IsNotExist(err) {
		t.Fatal("the include wrote into the directory a committed link points at")
	}
	files := download(t, got.Status.Artifact)
	if files["third_party/base/deploy.yaml"] != "v1" || files["third_party/README"] != "vendored" {
		t.Errorf("the link inside the repository was not followed: %v", keys(files))
	}
}

// An included artifact whose file no longer matches its digest is not unpacked into the
// including one.
func TestGitRepositoryIncludeVerifiesTheDigest(t *testing.T) {
	srv := newGitServer(t)
	shared := newRepo(t, srv, "org/shared-digest.git", map[string]string{"base/deploy.yaml": "v1"})
	sharedHead := shared.commit(map[string]string{"base/svc.yaml": "svc"}, "svc")
	shared.push("main")
	sharedReady := waitRevision(t, gitRepository(t, "shared-digest", srv.url("org/shared-digest.git")), "main@sha1:"+sharedHead)
	// The included artifact is replaced on disk behind its recorded digest.
	file, err := store.LocalPath(*sharedReady.Status.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, tarball(t, map[string]string{"base/deploy.yaml": "tampered"}), 0o644); err != nil {
		t.Fatal(err)
	}

	newRepo(t, srv, "org/app-digest.git", map[string]string{"app.yaml": "app"})
	obj := gitRepository(t, "app-digest", srv.url("org/app-digest.git"), func(o *sourcev1.GitRepository) {
		o.Spec.Include = []sourcev1.GitRepositoryInclude{{GitRepositoryRef: meta.LocalObjectReference{Name: "shared-digest"}, FromPath: "base", ToPath: "vendor"}}
	})
	testenv.Eventually(t, 30*time.Second, func() error {
		g := get(t, obj)
		inc := findCondition(g, sourcev1.IncludeUnavailableCondition)
		if inc == nil || inc.Reason != includeCopyFailedReason || !strings.Contains(inc.Message, "does not match its digest") {
			return fmt.Errorf("include = %+v", inc)
		}
		if g.Status.Artifact != nil {
			return fmt.Errorf("an artifact was stored: %+v", g.Status.Artifact)
		}
		return nil
	})
}

func TestGitRepositoryIncludeUnavailable(t *testing.T) {
	srv := newGitServer(t)
	newRepo(t, srv, "org/lonely.git", map[string]string{"a": "a"})
	obj := gitRepository(t, "lonely", srv.url("org/lonely.git"), func(o *sourcev1.GitRepository) {
		o.Spec.Include = []sourcev1.GitRepositoryInclude{{GitRepositoryRef: meta.LocalObjectReference{Name: "nowhere"}}}
	})
	testenv.Eventually(t, 30*time.Second, func() error {
		g := get(t, obj)
		c := findCondition(g, meta.ReadyCondition)
		inc := findCondition(g, sourcev1.IncludeUnavailableCondition)
		if c == nil || c.Status != metav1.ConditionFalse || inc == nil || inc.Reason != includeNotFoundReason {
			return fmt.Errorf("ready = %+v, include = %+v", c, inc)
		}
		return nil
	})
}

func TestGitRepositorySparseCheckout(t *testing.T) {
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/sparse.git", map[string]string{"deploy/app.yaml": "a", "deploy/sub/b.yaml": "b", "src/main.go": "package main"})
	head := rp.commit(map[string]string{"docs/readme.txt": "r"}, "docs")
	rp.push("main")
	obj := gitRepository(t, "sparse", srv.url("org/sparse.git"), func(o *sourcev1.GitRepository) {
		o.Spec.SparseCheckout = []string{"deploy"}
	})
	got := waitRevision(t, obj, "main@sha1:"+head)
	files := download(t, got.Status.Artifact)
	if len(files) != 2 || files["deploy/app.yaml"] != "a" || files["deploy/sub/b.yaml"] != "b" {
		t.Fatalf("sparse checkout of deploy/ holds %v", keys(files))
	}
	if len(got.Status.ObservedSparseCheckout) != 1 {
		t.Errorf("observedSparseCheckout = %v", got.Status.ObservedSparseCheckout)
	}
}
