package controller

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

var (
	env       *testenv.Environment
	artifacts *artifactServer
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctrl.SetLogger(logr.Discard())
	var err error
	env, err = testenv.Start(testenv.WithScheme(sourcev1.AddToScheme, kustomizev1.AddToScheme))
	if err != nil {
		return 0, err
	}
	defer env.Stop()
	artifacts = newArtifactServer()
	defer artifacts.Close()

	cacheDir, err := os.MkdirTemp("", "driftless-artifacts-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(cacheDir)
	cache, err := artifact.NewCache(cacheDir, &artifact.Fetcher{Backoff: 10 * time.Millisecond, Retries: 2})
	if err != nil {
		return 0, err
	}

	mgr, err := env.NewManager(logr.Discard())
	if err != nil {
		return 0, err
	}
	if err := (&KustomizationReconciler{
		Client:            mgr.GetClient(),
		Events:            events.NewRecorder(mgr.GetEventRecorderFor("kustomize-controller"), env.Scheme, "kustomize-controller", nil, logr.Discard()),
		Artifacts:         cache,
		MinRetryDelay:     100 * time.Millisecond,
		MaxRetryDelay:     2 * time.Second,
		RequeueDependency: 500 * time.Millisecond,
		Concurrent:        4,
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	return code, <-done
}

// artifactServer serves tarballs made by the tests, as source-controller would.
type artifactServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
}

func newArtifactServer() *artifactServer {
	s := &artifactServer{files: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		data, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	return s
}

// publish packs files into a tar.gz, serves it, and returns its artifact record.
func (s *artifactServer) publish(t *testing.T, name, revision string, files map[string]string) meta.Artifact {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		_ = tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(files[p]))})
		_, _ = tw.Write([]byte(files[p]))
	}
	_ = tw.Close()
	_ = gz.Close()
	sum := sha256.Sum256(buf.Bytes())
	digest := hex.EncodeToString(sum[:])
	path := "/gitrepository/default/" + name + "/" + digest[:12] + ".tar.gz"
	s.mu.Lock()
	s.files[path] = buf.Bytes()
	s.mu.Unlock()
	return meta.Artifact{Path: path, URL: s.URL + path, Revision: revision, Digest: "sha256:" + digest, LastUpdateTime: metav1.Now()}
}
