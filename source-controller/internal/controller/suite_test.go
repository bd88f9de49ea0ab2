package controller

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

var (
	env   *testenv.Environment
	store *storage.Storage
)

// TestMain starts the control plane, an artifact server on 127.0.0.1:0, and a manager running
// the real reconcilers, once for the package.
func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	log.SetOutput(io.Discard) // gitkit logs every request through the standard logger
	ctrl.SetLogger(testLogger())
	var err error
	env, err = testenv.Start(testenv.WithScheme(sourcev1.AddToScheme))
	if err != nil {
		return 0, err
	}
	defer env.Stop()

	root, err := os.MkdirTemp("", "driftless-storage-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	store, err = storage.New(root, "placeholder", time.Minute, 2)
	if err != nil {
		return 0, err
	}
	// Small, so that a test can exceed it cheaply.
	store.Limits = artifact.Limits{MaxFileBytes: maxTestFileBytes}
	srv := httptest.NewServer(store.Handler())
	defer srv.Close()
	store.Hostname = srv.Listener.Addr().String()

	mgr, err := env.NewManager(testLogger())
	if err != nil {
		return 0, err
	}
	recorder := events.NewRecorder(mgr.GetEventRecorderFor("source-controller"), env.Scheme, "source-controller", nil, testLogger())
	if err := (&GitRepositoryReconciler{
		Client:        mgr.GetClient(),
		Events:        recorder,
		Storage:       store,
		MinRetryDelay: 200 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
		Concurrent:    4,
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	if err := (&OCIRepositoryReconciler{
		Client:        mgr.GetClient(),
		Events:        recorder,
		Storage:       store,
		MinRetryDelay: 200 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
		Concurrent:    4,
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	if err := (&BucketReconciler{
		Client:        mgr.GetClient(),
		Events:        recorder,
		Storage:       store,
		MinRetryDelay: 200 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
		Concurrent:    2,
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	if err := (&HelmRepositoryReconciler{
		Client:        mgr.GetClient(),
		Events:        recorder,
		Storage:       store,
		MinRetryDelay: 200 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
		Concurrent:    2,
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	if err := (&HelmChartReconciler{
		Client:        mgr.GetClient(),
		Events:        recorder,
		Storage:       store,
		MinRetryDelay: 200 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
		Concurrent:    2,
		// Only a source's new artifact can bring a waiting chart back within a test.
		DependencyRetry: time.Hour,
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		return code, err
	}
	return code, nil
}

// controllerLogs holds everything the controllers logged, so tests can check that no
// credential was logged.
var controllerLogs = &lockedBuffer{}

// testLogger logs into controllerLogs, and also to stderr when DRIFTLESS_TEST_LOGS is set.
func testLogger() logr.Logger {
	var w io.Writer = controllerLogs
	if os.Getenv("DRIFTLESS_TEST_LOGS") != "" {
		w = io.MultiWriter(controllerLogs, os.Stderr)
	}
	return zap.New(zap.WriteTo(w), zap.UseDevMode(true))
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
