package controller

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/helm-controller/internal/action"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

var (
	env    *testenv.Environment
	charts *chartServer
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
	var err error
	env, err = testenv.Start(testenv.WithScheme(v2.AddToScheme, sourcev1.AddToScheme, apiextensionsv1.AddToScheme))
	if err != nil {
		return 0, err
	}
	defer env.Stop()
	charts = &chartServer{files: map[string][]byte{}}
	charts.Server = httptest.NewServer(charts)
	defer charts.Close()

	// A wait must be woken by the watch's events: its backstop would only hide a missed one.
	action.WaitBackstop = time.Hour
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil))) // the Helm SDK's own warnings
	log := ctrl.Log.WithName("test")
	mgr, err := env.NewManager(log)
	if err != nil {
		return 0, err
	}
	recorder := events.NewRecorder(mgr.GetEventRecorderFor("helm-controller"), env.Scheme, "helm-controller", nil, log)
	if err := (&HelmReleaseReconciler{
		Client:               mgr.GetClient(),
		Events:               recorder,
		Fetcher:              &artifact.Fetcher{Backoff: time.Millisecond, Retries: 1},
		DependencyRetry:      time.Hour, // a HelmChart's new artifact must be what triggers the release
		WatchConfigsSelector: labels.SelectorFromSet(labels.Set{meta.ReconcileWatchLabel: meta.ReconcileWatchEnabled}),
		MinRetryDelay:        200 * time.Millisecond,
		MaxRetryDelay:        2 * time.Second,
		Concurrent:           4,
	}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()
	return m.Run(), nil
}

// chartServer serves chart archives as source-controller's storage would.
type chartServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
}

func (c *chartServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	data, ok := c.files[r.URL.Path]
	c.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write(data)
}

// publish serves a chart archive and returns its URL and digest.
func (c *chartServer) publish(path string, data []byte) (string, string) {
	c.mu.Lock()
	c.files[path] = data
	c.mu.Unlock()
	sum := sha256.Sum256(data)
	return c.URL + path, "sha256:" + hex.EncodeToString(sum[:])
}

// chartArchive is a chart 'demo' at version that renders a ConfigMap from the values, with
// the extra files (by path in the chart, 'templates/test.yaml') added.
func chartArchive(t *testing.T, version string, extra ...map[string]string) []byte {
	t.Helper()
	files := map[string]string{
		"Chart.yaml":            "apiVersion: v2\nname: demo\nversion: " + version + "\nappVersion: \"1.0\"\n",
		"values.yaml":           "greeting: hello\n",
		"templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Values.suffix | default \"config\" }}\ndata:\n  greeting: {{ required \"greeting is required\" .Values.greeting | quote }}\n  chart: {{ .Chart.Version | quote }}\n",
	}
	for _, e := range extra {
		for k, v := range e {
			files[k] = v
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range names {
		if err := tw.WriteHeader(&tar.Header{Name: "demo/" + name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
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
