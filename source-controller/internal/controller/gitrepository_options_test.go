package controller

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// forwardProxy is an HTTP proxy on 127.0.0.1 that requires basic proxy authentication and
// counts the requests it forwards.
func forwardProxy(t *testing.T, user, password string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var forwarded atomic.Int64
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != want {
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxy"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		forwarded.Add(1)
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Authorization")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv, &forwarded
}

func TestGitRepositoryProxy(t *testing.T) {
	const proxyPassword = "pr0xy-s3cret"
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/proxied.git", map[string]string{"a": "a"})
	head := rp.commit(map[string]string{"b": "b"}, "b")
	rp.push("main")
	proxy, forwarded := forwardProxy(t, "proxyuser", proxyPassword)

	secret(t, "proxy-wrong", map[string]string{"address": proxy.URL, "username": "proxyuser", "password": "wrong"})
	denied := gitRepository(t, "proxied-denied", srv.url("org/proxied.git"), func(o *sourcev1.GitRepository) {
		o.Spec.ProxySecretRef = &meta.LocalObjectReference{Name: "proxy-wrong"}
	})
	waitNotReady(t, denied, "")
	if forwarded.Load() != 0 {
		t.Fatal("the proxy forwarded requests without authentication")
	}

	secret(t, "proxy", map[string]string{"address": proxy.URL, "username": "proxyuser", "password": proxyPassword})
	obj := gitRepository(t, "proxied", srv.url("org/proxied.git"), func(o *sourcev1.GitRepository) {
		o.Spec.ProxySecretRef = &meta.LocalObjectReference{Name: "proxy"}
	})
	waitRevision(t, obj, "main@sha1:"+head)
	if forwarded.Load() == 0 {
		t.Fatal("the fetch did not go through the proxy")
	}
	assertNoSecret(t, obj, proxyPassword)
	assertNoSecret(t, denied, proxyPassword)
}

func TestGitRepositoryTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newGitServer(t, func(s *gittestserver.GitServer) {
		s.AddHTTPMiddlewares(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select { // hang until the test ends
				case <-release:
				case <-r.Context().Done():
				}
			})
		})
	})
	t.Cleanup(func() { close(release) })
	newRepo(t, srv, "org/slow.git", map[string]string{"a": "a"})
	obj := gitRepository(t, "slow", srv.url("org/slow.git"), func(o *sourcev1.GitRepository) {
		o.Spec.Timeout = &meta.Duration{Duration: time.Second}
	})
	got := waitNotReady(t, obj, "timed out")
	if c := findCondition(got, meta.ReadyCondition); c.Reason != sourcev1.GitOperationFailedReason {
		t.Fatalf("reason = %s", c.Reason)
	}
}

func TestGitRepositoryRecurseSubmodules(t *testing.T) {
	srv := newGitServer(t)
	lib := newRepo(t, srv, "org/lib.git", map[string]string{"lib.txt": "library"})
	_ = lib

	// The git binary records a real submodule (go-git cannot add one).
	work := t.TempDir()
	bare := filepath.Join(srv.Root(), "org/with-sub.git")
	git := gitCLI(t)
	git(work, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(work, "app.yaml"), []byte("app"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(work, "submodule", "add", "-q", srv.url("org/lib.git"), "vendor/lib")
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "with submodule")
	git(work, "init", "-q", "--bare", bare)
	git(work, "push", "-q", bare, "main")
	head, err := exec.Command("git", "-C", work, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	revision := "main@sha1:" + strings.TrimSpace(string(head))

	plain := gitRepository(t, "sub-plain", srv.url("org/with-sub.git"))
	files := download(t, waitRevision(t, plain, revision).Status.Artifact)
	if _, ok := files["vendor/lib/lib.txt"]; ok {
		t.Fatal("submodule content without recurseSubmodules")
	}

	obj := gitRepository(t, "sub", srv.url("org/with-sub.git"), func(o *sourcev1.GitRepository) { o.Spec.RecurseSubmodules = true })
	got := waitRevision(t, obj, revision)
	files = download(t, got.Status.Artifact)
	if files["vendor/lib/lib.txt"] != "library" || files["app.yaml"] != "app" {
		t.Fatalf("files = %v", keys(files))
	}
	if !got.Status.ObservedRecurseSubmodules {
		t.Error("observedRecurseSubmodules not recorded")
	}
}

// The parent's credentials go only to the parent's host: a submodule on the same host is
// fetched with them, one on another host (whatever .gitmodules names) never receives them.
func TestGitRepositorySubmoduleCredentialsStayOnTheirHost(t *testing.T) {
	const password = "hunter2-submodules"
	srv := newGitServer(t, func(s *gittestserver.GitServer) { s.Auth("flux", password) })
	var leaked atomic.Int32
	other := newGitServer(t, func(s *gittestserver.GitServer) {
		s.AddHTTPMiddlewares(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "" {
					leaked.Add(1)
				}
				next.ServeHTTP(w, r)
			})
		})
	})
	newRepo(t, srv, "org/internal.git", map[string]string{"internal.txt": "same host"})
	newRepo(t, other, "org/public.git", map[string]string{"public.txt": "other host"})

	work := t.TempDir()
	bare := filepath.Join(srv.Root(), "org/with-subs.git")
	basic := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("flux:"+password))
	git := gitCLI(t)
	git(work, "init", "-q", "-b", "main")
	git(work, "-c", "http.extraHeader="+basic, "submodule", "add", "-q", srv.url("org/internal.git"), "vendor/internal")
	git(work, "submodule", "add", "-q", other.url("org/public.git"), "vendor/public")
	git(work, "commit", "-q", "-m", "two submodules")
	git(work, "init", "-q", "--bare", bare)
	git(work, "push", "-q", bare, "main")
	leaked.Store(0) // the setup's own requests do not count

	secret(t, "sub-auth", map[string]string{"username": "flux", "password": password})
	obj := gitRepository(t, "subs-auth", srv.url("org/with-subs.git"), func(o *sourcev1.GitRepository) {
		o.Spec.RecurseSubmodules = true
		o.Spec.SecretRef = &meta.LocalObjectReference{Name: "sub-auth"}
	})
	testenv.Eventually(t, 30*time.Second, func() error {
		if g := get(t, obj); g.Status.Artifact == nil {
			return fmt.Errorf("no artifact yet: %+v", g.Status.Conditions)
		}
		return nil
	})
	files := download(t, get(t, obj).Status.Artifact)
	if files["vendor/internal/internal.txt"] != "same host" || files["vendor/public/public.txt"] != "other host" {
		t.Fatalf("files = %v", keys(files))
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("the other host received the parent's credentials in %d requests", n)
	}
}
