package git

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/driftless-dev/driftless/pkg/artifact"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/sourceignore"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// fixtureRepo commits a tree with the cases that tell walk orders and modes apart, using the
// git binary, and returns the repository path and head commit.
func fixtureRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"a/x.yaml":               "x",
		"a.txt":                  "a",
		"a-b/y.yaml":             "y",
		"b/c/d/deep.yaml":        "deep",
		"b/.sourceignore":        "*.secret\n",
		"b/c/token.secret":       "s",
		"docs/logo.png":          "png",
		"run.sh":                 "#!/bin/sh\n",
		"Z-upper.yaml":           "Z",
		"deploy/app/deploy.yaml": "app",
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		_ = os.MkdirAll(filepath.Dir(full), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(c), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"}, {"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "fixture"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	head, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return dir, strings.TrimSpace(string(head))
}

func TestTreeSourceMatchesCheckout(t *testing.T) {
	repoDir, head := fixtureRepo(t)
	refs, err := ListRefs(context.Background(), repoDir, &Auth{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sparse := range [][]string{nil, {"b/c", "deploy"}} {
		t.Run(strings.Join(sparse, ","), func(t *testing.T) {
			target, err := Resolve(&sourcev1.GitRepositoryRef{Branch: "main"}, refs)
			if err != nil || target.Commit != head {
				t.Fatalf("resolve: %+v %v", target, err)
			}

			fromTree := archiveTree(t, repoDir, target, sparse)
			fromDisk := archiveCheckout(t, repoDir, target, sparse)
			if !bytes.Equal(fromTree, fromDisk) {
				t.Fatalf("packing the tree and packing a checkout differ (%d vs %d bytes)", len(fromTree), len(fromDisk))
			}
		})
	}
}

func archiveTree(t *testing.T, url string, target Target, sparse []string) []byte {
	t.Helper()
	f, err := Fetch(context.Background(), url, t.TempDir(), target, &Auth{})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := f.Tree()
	if err != nil {
		t.Fatal(err)
	}
	src := TreeSource{Tree: tree, Sparse: sparse}
	ignoreFiles, err := src.IgnoreFiles(sourceignore.FileName)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := storage.WriteTarGz(&buf, src, sourceignore.NewMatcherFromFiles(nil, ignoreFiles).Excluded, artifact.Limits{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func archiveCheckout(t *testing.T, url string, target Target, sparse []string) []byte {
	t.Helper()
	dir := t.TempDir()
	f, err := Fetch(context.Background(), url, dir, target, &Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Checkout(context.Background(), &Auth{}, CloneOptions{SparseCheckout: sparse}); err != nil {
		t.Fatal(err)
	}
	m, err := sourceignore.NewMatcher(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := storage.WriteTarGz(&buf, storage.DirSource(dir), m.Excluded, artifact.Limits{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
