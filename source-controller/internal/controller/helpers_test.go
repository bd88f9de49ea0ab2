package controller

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// gitServer is a real Git server over HTTP on 127.0.0.1, backed by the git binary. It counts
// the pack requests it serves, so tests can tell an ls-remote from a clone.
type gitServer struct {
	*gittestserver.GitServer
	packRequests atomic.Int64
}

func newGitServer(t *testing.T, configure ...func(*gittestserver.GitServer)) *gitServer {
	t.Helper()
	s, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	g := &gitServer{GitServer: s}
	s.AddHTTPMiddlewares(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && filepath.Base(r.URL.Path) == "git-upload-pack" {
				g.packRequests.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	for _, c := range configure {
		c(s)
	}
	if err := s.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.StopHTTP()
		_ = os.RemoveAll(s.Root())
	})
	return g
}

// repo is a working clone used to push commits to a repository of a gitServer.
type repo struct {
	t    *testing.T
	r    *gogit.Repository
	dir  string
	path string
}

// newRepo creates repoPath on the server with one commit of files on branch main.
func newRepo(t *testing.T, s *gitServer, repoPath string, files map[string]string) *repo {
	t.Helper()
	bare := filepath.Join(s.Root(), repoPath)
	bareRepo, err := gogit.PlainInit(bare, true)
	if err != nil {
		t.Fatal(err)
	}
	// Like a Git host, point the remote's HEAD at the default branch.
	if err := bareRepo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("main"))); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r, err := gogit.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{bare}}); err != nil {
		t.Fatal(err)
	}
	// Start on main rather than go-git's default.
	if err := r.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("main"))); err != nil {
		t.Fatal(err)
	}
	rp := &repo{t: t, r: r, dir: dir, path: repoPath}
	rp.commit(files, "initial")
	rp.push("main")
	return rp
}

// commit writes files (an empty content deletes the file) and commits them; it returns the hash.
func (rp *repo) commit(files map[string]string, message string) string {
	rp.t.Helper()
	wt, err := rp.r.Worktree()
	if err != nil {
		rp.t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		full := filepath.Join(rp.dir, filepath.FromSlash(name))
		if files[name] == "" {
			if _, err := wt.Remove(name); err != nil {
				rp.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			rp.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(files[name]), 0o644); err != nil {
			rp.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			rp.t.Fatal(err)
		}
	}
	return rp.commitWorktree(wt, message)
}

// commitWorktree commits what is staged in wt; it returns the hash.
func (rp *repo) commitWorktree(wt *gogit.Worktree, message string) string {
	rp.t.Helper()
	h, err := wt.Commit(message, &gogit.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0)}})
	if err != nil {
		rp.t.Fatal(err)
	}
	return h.String()
}

// gitCLI returns a runner of the git binary in a directory, for what go-git cannot do (add a
// submodule); a failure fails t.
func gitCLI(t *testing.T) func(dir string, args ...string) {
	return func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "protocol.allow=always"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}

// symlink commits a symbolic link at name pointing at target; it returns the hash.
func (rp *repo) symlink(name, target, message string) string {
	rp.t.Helper()
	full := filepath.Join(rp.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		rp.t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		rp.t.Fatal(err)
	}
	wt, err := rp.r.Worktree()
	if err != nil {
		rp.t.Fatal(err)
	}
	if _, err := wt.Add(name); err != nil {
		rp.t.Fatal(err)
	}
	return rp.commitWorktree(wt, message)
}

// push force-pushes HEAD to branch.
func (rp *repo) push(branch string) {
	rp.t.Helper()
	head, err := rp.r.Head()
	if err != nil {
		rp.t.Fatal(err)
	}
	// go-git ignores "HEAD" as a refspec source: name the checked-out branch.
	spec := config.RefSpec(fmt.Sprintf("+%s:refs/heads/%s", head.Name(), branch))
	if err := rp.r.Push(&gogit.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}}); err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		rp.t.Fatal(err)
	}
}

// tag creates an annotated (message != "") or lightweight tag at HEAD and pushes it.
func (rp *repo) tag(name, message string) {
	rp.t.Helper()
	head, err := rp.r.Head()
	if err != nil {
		rp.t.Fatal(err)
	}
	var opts *gogit.CreateTagOptions
	if message != "" {
		opts = &gogit.CreateTagOptions{Message: message, Tagger: &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0)}}
	}
	if _, err := rp.r.CreateTag(name, head.Hash(), opts); err != nil {
		rp.t.Fatal(err)
	}
	spec := config.RefSpec(fmt.Sprintf("refs/tags/%s:refs/tags/%s", name, name))
	if err := rp.r.Push(&gogit.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}}); err != nil {
		rp.t.Fatal(err)
	}
}

// resetHard moves HEAD back to a commit, for force-push scenarios.
func (rp *repo) resetHard(hash string) {
	rp.t.Helper()
	wt, _ := rp.r.Worktree()
	if err := wt.Reset(&gogit.ResetOptions{Commit: plumbing.NewHash(hash), Mode: gogit.HardReset}); err != nil {
		rp.t.Fatal(err)
	}
}

func (s *gitServer) url(repoPath string) string { return s.HTTPAddress() + "/" + repoPath }

type gitRepoOption func(*sourcev1.GitRepository)

func withRef(ref sourcev1.GitRepositoryRef) gitRepoOption {
	return func(o *sourcev1.GitRepository) { o.Spec.Reference = &ref }
}

func withSecret(name string) gitRepoOption {
	return func(o *sourcev1.GitRepository) { o.Spec.SecretRef = &meta.LocalObjectReference{Name: name} }
}

func withIgnore(patterns string) gitRepoOption {
	return func(o *sourcev1.GitRepository) { o.Spec.Ignore = &patterns }
}

// gitRepository creates a GitRepository with a one-hour interval, so that only the test's
// own actions (creation, requests) trigger reconciles.
func gitRepository(t *testing.T, name, url string, opts ...gitRepoOption) *sourcev1.GitRepository {
	t.Helper()
	obj := &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: sourcev1.GitRepositorySpec{
			URL:       url,
			Interval:  meta.Duration{Duration: time.Hour},
			Reference: &sourcev1.GitRepositoryRef{Branch: "main"},
		},
	}
	for _, o := range opts {
		o(obj)
	}
	if err := env.Client.Create(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(testenv.Context(t), obj) })
	return obj
}

func secret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, StringData: data}
	if err := env.Client.Create(testenv.Context(t), s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(testenv.Context(t), s) })
}

func get(t *testing.T, obj *sourcev1.GitRepository) *sourcev1.GitRepository {
	t.Helper()
	got := &sourcev1.GitRepository{}
	if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(obj), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// waitReady waits until the object is Ready at its current generation with the given revision.
func waitRevision(t *testing.T, obj *sourcev1.GitRepository, revision string) *sourcev1.GitRepository {
	t.Helper()
	var got *sourcev1.GitRepository
	testenv.Eventually(t, 30*time.Second, func() error {
		got = get(t, obj)
		c := findCondition(got, meta.ReadyCondition)
		if c == nil || c.Status != metav1.ConditionTrue || got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("not ready: %+v", got.Status.Conditions)
		}
		if got.Status.Artifact == nil || got.Status.Artifact.Revision != revision {
			return fmt.Errorf("artifact %+v, want revision %s", got.Status.Artifact, revision)
		}
		return nil
	})
	return got
}

func findCondition(obj *sourcev1.GitRepository, t string) *metav1.Condition {
	for i := range obj.Status.Conditions {
		if obj.Status.Conditions[i].Type == t {
			return &obj.Status.Conditions[i]
		}
	}
	return nil
}

// requestReconcile sets a new requestedAt value and waits until it is handled.
func requestReconcile(t *testing.T, obj *sourcev1.GitRepository) *sourcev1.GitRepository {
	t.Helper()
	value := time.Now().Format(time.RFC3339Nano)
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, value))
	if err := env.Client.Patch(testenv.Context(t), obj.DeepCopy(), client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	var got *sourcev1.GitRepository
	testenv.Eventually(t, 30*time.Second, func() error {
		got = get(t, obj)
		if got.Status.LastHandledReconcileAt != value {
			return fmt.Errorf("lastHandledReconcileAt = %q, want %q", got.Status.LastHandledReconcileAt, value)
		}
		return nil
	})
	return got
}

// download fetches the artifact over HTTP, checks its digest, and returns its files.
func download(t *testing.T, a *meta.Artifact) map[string]string {
	t.Helper()
	resp, err := http.Get(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", a.URL, resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != a.Digest {
		t.Fatalf("downloaded digest %s, status records %s", got, a.Digest)
	}
	if a.Size == nil || *a.Size != int64(len(data)) {
		t.Fatalf("size %v, downloaded %d bytes", a.Size, len(data))
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
	}
}

// eventsFor lists the Kubernetes events of an object.
func eventsFor(t *testing.T, obj client.Object) []corev1.Event {
	t.Helper()
	list := &corev1.EventList{}
	if err := env.Client.List(testenv.Context(t), list, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.UID == obj.GetUID() {
			out = append(out, e)
		}
	}
	return out
}

// change applies mutate to the object's spec or metadata with a merge patch, which does not
// conflict with the controller's concurrent status writes.
func change(t *testing.T, obj *sourcev1.GitRepository, mutate func(*sourcev1.GitRepository)) {
	t.Helper()
	current := get(t, obj)
	base := current.DeepCopy()
	mutate(current)
	if err := env.Client.Patch(testenv.Context(t), current, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
}

// tarball packs files into a tar.gz, as an artifact is packed.
func tarball(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range keys(files) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(files[name]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
