package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/testenv"
)

// harness holds what the scenarios share: the control plane, a Git server and scratch space.
type harness struct {
	env     *testenv.Environment
	cluster *testenv.Cluster
	binDir  string
	work    string
	git     *gittestserver.GitServer
	// uploadPacks and refAdvertisements count clones/fetches and ls-remotes served.
	uploadPacks       atomic.Int64
	refAdvertisements atomic.Int64
	repos             map[string]bool
	namespaces        int
}

func (h *harness) gitServer() (*gittestserver.GitServer, error) {
	if h.git != nil {
		return h.git, nil
	}
	s, err := gittestserver.NewTempGitServer()
	if err != nil {
		return nil, err
	}
	s.AddHTTPMiddlewares(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
				h.uploadPacks.Add(1)
			case strings.HasSuffix(r.URL.Path, "/info/refs"):
				h.refAdvertisements.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	if err := s.StartHTTP(); err != nil {
		return nil, err
	}
	h.git, h.repos = s, map[string]bool{}
	return s, nil
}

func (h *harness) close() {
	if h.cluster != nil {
		h.cluster.Stop()
	}
	if h.git != nil {
		h.git.StopHTTP()
		_ = os.RemoveAll(h.git.Root())
	}
}

// repo creates (once) a repository of files × size bytes of YAML-like text on the Git server
// with the git binary, and returns its URL.
func (h *harness) repo(name string, files, size int) (string, error) {
	s, err := h.gitServer()
	if err != nil {
		return "", err
	}
	url := s.HTTPAddress() + "/" + name + ".git"
	if h.repos[name] {
		return url, nil
	}
	src := filepath.Join(h.work, "src-"+name)
	rng := rand.New(rand.NewPCG(uint64(files), uint64(size)))
	for i := range files {
		p := filepath.Join(src, fmt.Sprintf("app-%03d", i%100), fmt.Sprintf("manifest-%05d.yaml", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		var b strings.Builder
		for b.Len() < size {
			fmt.Fprintf(&b, "key-%d: value-%016x\n", b.Len(), rng.Uint64())
		}
		if err := os.WriteFile(p, []byte(b.String()[:size]), 0o644); err != nil {
			return "", err
		}
	}
	bare := filepath.Join(s.Root(), name+".git")
	for _, args := range [][]string{
		{"-C", src, "init", "-q", "-b", "main"},
		{"-C", src, "add", "-A"},
		{"-C", src, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "initial"},
		{"clone", "-q", "--bare", src, bare},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("git %v: %v: %s", args, err, out)
		}
	}
	_ = os.RemoveAll(src)
	h.repos[name] = true
	return url, nil
}

// namespace creates a fresh namespace for one run.
func (h *harness) namespace(ctx context.Context) (string, error) {
	h.namespaces++
	name := fmt.Sprintf("bench-%d", h.namespaces)
	return name, h.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// waitAll polls the objects of a list until done reports every one finished.
func waitAll[T client.ObjectList](ctx context.Context, h *harness, list T, ns string, want int, timeout time.Duration, done func(T) int) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := h.env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		n := done(list)
		if n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d done after %s", n, want, timeout)
		}
		// Listing hundreds of objects costs the API server: poll big sets less often.
		if want > 100 {
			time.Sleep(500 * time.Millisecond)
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
}
