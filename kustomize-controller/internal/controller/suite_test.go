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
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// maxArtifactBytes caps extraction in the tests, so that a bomb stays small.
const maxArtifactBytes = 64 << 20

var (
	env       *testenv.Environment
	artifacts *artifactServer
	// reconciler is the suite's kustomize-controller.
	reconciler *KustomizationReconciler
	// afterPatches holds, by '<kind>/<namespace>/<name>', what a test does right after the
	// controller sent that object to the API server (a dry-run or an apply).
	afterPatches sync.Map // string → func()
	// afterDryRuns holds, likewise, what a test does after the controller dry-ran that object.
	afterDryRuns sync.Map // string → func()
	// afterLists holds, by '<kind>/<namespace>', what a test does right after the controller
	// listed objects of that kind in that namespace from the API server.
	afterLists sync.Map // string → func()
	// failNextPatches holds the objects whose next patch fails, by '<kind>/<namespace>/<name>'.
	failNextPatches sync.Map // string → struct{}
)

// suiteVerifyInterval is how long the suite's controller trusts its tracker.
const suiteVerifyInterval = 4 * time.Second

// suiteLog is the controller's log for the whole suite. A failing test shows the part that
// was written while it ran: in CI, the output is all there is to read.
var suiteLog *controllerLog

type controllerLog struct {
	mu    sync.Mutex
	file  *os.File
	size  int64
	shown sync.Map // test name → struct{}
}

// maxShownLog bounds what one failing test prints of the controller log.
const maxShownLog = 64 << 10

func (l *controllerLog) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		line := time.Now().Format("15:04:05.000") + " " + prefix + " " + args + "\n"
		l.mu.Lock()
		defer l.mu.Unlock()
		n, _ := l.file.WriteString(line)
		l.size += int64(n)
	}, funcr.Options{Verbosity: 1})
}

// showOnFailure makes t print, if it fails, what the controller logged from now until t
// ends (the first maxShownLog bytes). Once per test.
func (l *controllerLog) showOnFailure(t *testing.T) {
	if _, done := l.shown.LoadOrStore(t.Name(), struct{}{}); done {
		return
	}
	l.mu.Lock()
	from := l.size
	l.mu.Unlock()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		l.mu.Lock()
		n := l.size - from
		l.mu.Unlock()
		note := ""
		if n > maxShownLog {
			note = fmt.Sprintf("\n(the first %d KiB of %d KiB)", maxShownLog>>10, n>>10)
			n = maxShownLog
		}
		buf := make([]byte, n)
		if _, err := l.file.ReadAt(buf, from); err != nil && err != io.EOF {
			t.Logf("reading the controller log: %v", err)
			return
		}
		t.Logf("the controller's log while the test ran:\n%s%s", buf, note)
	})
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	logFile, err := os.CreateTemp("", "kustomize-controller-test-*.log")
	if err != nil {
		return 0, err
	}
	defer os.Remove(logFile.Name())
	defer logFile.Close()
	suiteLog = &controllerLog{file: logFile}
	log := suiteLog.logger()
	ctrl.SetLogger(log)
	env, err = testenv.Start(testenv.WithScheme(sourcev1.AddToScheme, kustomizev1.AddToScheme, apiextensionsv1.AddToScheme))
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
	cache, err := artifact.NewCache(cacheDir, &artifact.Fetcher{Backoff: 10 * time.Millisecond, Retries: 2, Limits: artifact.Limits{MaxBytes: maxArtifactBytes}})
	if err != nil {
		return 0, err
	}

	mgr, err := env.NewManager(log)
	if err != nil {
		return 0, err
	}
	reconciler = &KustomizationReconciler{
		Client:               mgr.GetClient(),
		Events:               events.NewRecorder(mgr.GetEventRecorderFor("kustomize-controller"), env.Scheme, "kustomize-controller", nil, logr.Discard()),
		Artifacts:            cache,
		MinRetryDelay:        100 * time.Millisecond,
		MaxRetryDelay:        2 * time.Second,
		RequeueDependency:    500 * time.Millisecond,
		Concurrent:           4,
		WatchDrift:           true,
		StrictSubstitutions:  true,
		SOPSAgeSecret:        types.NamespacedName{Namespace: "default", Name: "sops-age-controller"},
		WatchConfigsSelector: labels.SelectorFromSet(labels.Set{meta.ReconcileWatchLabel: meta.ReconcileWatchEnabled}),
		DriftCorrectionGap:   time.Second,
		VerifyInterval:       suiteVerifyInterval,
		SweepInterval:        time.Second,
		Impersonator:         &hookedImpersonator{RESTImpersonator{Client: mgr.GetClient(), Config: mgr.GetConfig(), Mapper: mgr.GetRESTMapper()}},
	}
	if err := reconciler.SetupWithManager(mgr); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	return code, <-done
}

// hookedImpersonator acts with the identities the controller's own Impersonator uses, through
// clients that run a test's afterPatch hook once the API server has answered a patch of the
// hooked object.
type hookedImpersonator struct{ RESTImpersonator }

func (h *hookedImpersonator) ClientFor(account types.NamespacedName) (client.Client, error) {
	c, err := client.NewWithWatch(h.configFor(account), client.Options{Scheme: h.Client.Scheme(), Mapper: h.Mapper})
	if err != nil {
		return nil, err
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			key := obj.GetObjectKind().GroupVersionKind().Kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
			if _, ok := failNextPatches.LoadAndDelete(key); ok {
				return apierrors.NewServiceUnavailable("the API server is busy (injected by the test)")
			}
			err := c.Patch(ctx, obj, patch, opts...)
			if f, ok := afterPatches.Load(key); ok {
				f.(func())()
			}
			if f, ok := afterDryRuns.Load(key); ok && len((&client.PatchOptions{}).ApplyOptions(opts).DryRun) > 0 {
				f.(func())()
			}
			return err
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			err := c.List(ctx, list, opts...)
			o := (&client.ListOptions{}).ApplyOptions(opts)
			if f, ok := afterLists.Load(strings.TrimSuffix(list.GetObjectKind().GroupVersionKind().Kind, "List") + "/" + o.Namespace); ok {
				f.(func())()
			}
			return err
		},
	}), nil
}

// failNextPatch makes the controller's next patch of the object fail as a busy API server
// would, once.
func failNextPatch(t *testing.T, kind string, key types.NamespacedName) {
	id := kind + "/" + key.Namespace + "/" + key.Name
	failNextPatches.Store(id, struct{}{})
	t.Cleanup(func() { failNextPatches.Delete(id) })
}

// afterPatch runs f after each patch of the object the controller sends, until t ends.
func afterPatch(t *testing.T, kind string, key types.NamespacedName, f func()) {
	id := kind + "/" + key.Namespace + "/" + key.Name
	afterPatches.Store(id, f)
	t.Cleanup(func() { afterPatches.Delete(id) })
}

// afterDryRun runs f after each dry-run of the object the controller sends, until t ends.
func afterDryRun(t *testing.T, kind string, key types.NamespacedName, f func()) {
	id := kind + "/" + key.Namespace + "/" + key.Name
	afterDryRuns.Store(id, f)
	t.Cleanup(func() { afterDryRuns.Delete(id) })
}

// afterList runs f after each list of objects of kind in namespace that the controller
// sends, until t ends.
func afterList(t *testing.T, kind, namespace string, f func()) {
	id := kind + "/" + namespace
	afterLists.Store(id, f)
	t.Cleanup(func() { afterLists.Delete(id) })
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
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	entries := make([]tarEntry, 0, len(paths))
	for _, p := range paths {
		entries = append(entries, tarEntry{header: tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o600}, body: strings.NewReader(files[p])})
	}
	return s.publishEntries(t, name, revision, entries)
}

// tarEntry is one entry of a test archive; body may be large and is streamed.
type tarEntry struct {
	header tar.Header
	body   io.Reader
	size   int64
}

// publishEntries packs arbitrary entries (links, huge files) into a tar.gz and serves it.
func (s *artifactServer) publishEntries(t *testing.T, name, revision string, entries []tarEntry) meta.Artifact {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := e.header
		if e.body != nil {
			if r, ok := e.body.(*strings.Reader); ok && e.size == 0 {
				e.size = r.Size()
			}
			h.Size = e.size
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if e.body != nil {
			if _, err := io.Copy(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
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
