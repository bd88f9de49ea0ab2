package artifact

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// artifactServer serves one artifact on 127.0.0.1, failing the first failFirst requests with
// 503, and counts requests.
type artifactServer struct {
	*httptest.Server
	data      []byte
	requests  atomic.Int64
	failFirst int64
	delay     time.Duration
}

func newArtifactServer(t *testing.T, data []byte, failFirst int64) *artifactServer {
	s := &artifactServer{data: data, failFirst: failFirst}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.requests.Add(1)
		if r.URL.Path != "/artifact.tar.gz" {
			http.NotFound(w, r)
			return
		}
		if n <= s.failFirst {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		time.Sleep(s.delay)
		_, _ = w.Write(s.data)
	}))
	t.Cleanup(s.Close)
	return s
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

var fastFetcher = &Fetcher{Backoff: time.Millisecond}

func sampleArtifact(t *testing.T) []byte {
	return makeTarGz(t, []tarEntry{
		{name: "apps/", typeflag: tar.TypeDir},
		{name: "apps/deploy.yaml", typeflag: tar.TypeReg, body: "kind: Deployment"},
	})
}

func TestFetchVerifiesAndExtracts(t *testing.T) {
	data := sampleArtifact(t)
	srv := newArtifactServer(t, data, 2)
	dir := t.TempDir()
	if err := fastFetcher.Fetch(context.Background(), srv.URL+"/artifact.tar.gz", digestOf(data), dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "apps/deploy.yaml")); string(got) != "kind: Deployment" {
		t.Fatalf("extracted %q", got)
	}
	if srv.requests.Load() != 3 {
		t.Fatalf("%d requests, want 2 retries after 503", srv.requests.Load())
	}
}

func TestFetchRefusesDigestMismatchBeforeExtracting(t *testing.T) {
	data := sampleArtifact(t)
	srv := newArtifactServer(t, data, 0)
	dir := t.TempDir()
	other := digestOf([]byte("something else"))
	err := fastFetcher.Fetch(context.Background(), srv.URL+"/artifact.tar.gz", other, dir)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("unverified bytes were extracted: %v", entries)
	}
	if srv.requests.Load() != 1 {
		t.Fatalf("a digest mismatch was retried: %d requests", srv.requests.Load())
	}
}

func TestFetchNotFoundIsNotRetried(t *testing.T) {
	srv := newArtifactServer(t, nil, 0)
	err := fastFetcher.Fetch(context.Background(), srv.URL+"/missing.tar.gz", digestOf(nil), t.TempDir())
	if !errors.Is(err, ErrNotFound) || srv.requests.Load() != 1 {
		t.Fatalf("err = %v after %d requests", err, srv.requests.Load())
	}
}

func TestFetchCapsTheDownload(t *testing.T) {
	data := sampleArtifact(t)
	srv := newArtifactServer(t, data, 0)
	f := &Fetcher{MaxDownloadBytes: int64(len(data) - 1)}
	err := f.Fetch(context.Background(), srv.URL+"/artifact.tar.gz", digestOf(data), t.TempDir())
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestFetchRejectsUnknownDigestFormat(t *testing.T) {
	if err := fastFetcher.Fetch(context.Background(), "http://127.0.0.1:1/x", "md5:abc", t.TempDir()); err == nil {
		t.Fatal("accepted an md5 digest")
	}
}

func TestCacheSharesOneExtractionPerDigest(t *testing.T) {
	data := sampleArtifact(t)
	srv := newArtifactServer(t, data, 0)
	srv.delay = 50 * time.Millisecond // let the acquirers overlap
	cache, err := NewCache(t.TempDir(), fastFetcher)
	if err != nil {
		t.Fatal(err)
	}
	const users = 20
	dirs := make([]string, users)
	releases := make([]func(), users)
	var wg sync.WaitGroup
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir, release, err := cache.Acquire(context.Background(), srv.URL+"/artifact.tar.gz", digestOf(data))
			if err != nil {
				t.Error(err)
				return
			}
			dirs[i], releases[i] = dir, release
		}()
	}
	wg.Wait()
	if srv.requests.Load() != 1 {
		t.Fatalf("%d downloads for one digest, want 1", srv.requests.Load())
	}
	for _, d := range dirs {
		if d != dirs[0] {
			t.Fatalf("users got different trees: %s vs %s", d, dirs[0])
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dirs[0], "apps/deploy.yaml")); string(got) != "kind: Deployment" {
		t.Fatalf("tree content %q", got)
	}
	info, _ := os.Stat(filepath.Join(dirs[0], "apps/deploy.yaml"))
	if info.Mode().Perm()&0o222 != 0 {
		t.Fatalf("cached file is writable: %v", info.Mode())
	}

	// In use: never pruned.
	if n := cache.Prune(nil, 0); n != 0 {
		t.Fatalf("pruned %d entries in use", n)
	}
	for _, r := range releases {
		r()
	}
	// Still referenced by a source and recently used: kept.
	if n := cache.Prune(map[string]bool{digestOf(data): true}, time.Hour); n != 0 {
		t.Fatalf("pruned a referenced entry")
	}
	// No longer referenced: removed from disk.
	if n := cache.Prune(nil, time.Hour); n != 1 || cache.Len() != 0 {
		t.Fatalf("pruned %d, %d left", n, cache.Len())
	}
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Fatalf("pruned tree still on disk: %v", err)
	}
}

func TestCacheForgetsFailedFetches(t *testing.T) {
	data := sampleArtifact(t)
	srv := newArtifactServer(t, data, 0)
	cache, _ := NewCache(t.TempDir(), fastFetcher)
	if _, _, err := cache.Acquire(context.Background(), srv.URL+"/artifact.tar.gz", digestOf([]byte("wrong"))); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("err = %v", err)
	}
	if cache.Len() != 0 {
		t.Fatal("a failed fetch stayed cached")
	}
	dir, release, err := cache.Acquire(context.Background(), srv.URL+"/artifact.tar.gz", digestOf(data))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := os.Stat(filepath.Join(dir, "apps")); err != nil {
		t.Fatal(err)
	}
}

// A controller killed and restarted finds its cache directory as it left it: the new cache
// must start clean and fetch again, not fail on the old trees.
func TestCacheStartsCleanAfterARestart(t *testing.T) {
	data := sampleArtifact(t)
	srv := newArtifactServer(t, data, 0)
	root := t.TempDir()
	first, err := NewCache(root, fastFetcher)
	if err != nil {
		t.Fatal(err)
	}
	dir, release, err := first.Acquire(context.Background(), srv.URL+"/artifact.tar.gz", digestOf(data))
	if err != nil {
		t.Fatal(err)
	}
	release()
	// A half-extracted tree, as a kill during extraction leaves it.
	if err := os.MkdirAll(filepath.Join(root, ".fetch-123", "apps"), 0o755); err != nil {
		t.Fatal(err)
	}

	second, err := NewCache(root, fastFetcher)
	if err != nil {
		t.Fatal(err)
	}
	got, release, err := second.Acquire(context.Background(), srv.URL+"/artifact.tar.gz", digestOf(data))
	if err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	defer release()
	if got != dir {
		t.Errorf("tree at %s, was %s", got, dir)
	}
	if content, _ := os.ReadFile(filepath.Join(got, "apps/deploy.yaml")); string(content) != "kind: Deployment" {
		t.Errorf("tree content %q", content)
	}
	if _, err := os.Stat(filepath.Join(root, ".fetch-123")); !os.IsNotExist(err) {
		t.Errorf("leftover extraction kept: %v", err)
	}
	if srv.requests.Load() != 2 {
		t.Errorf("%d downloads, want 2 (one per process)", srv.requests.Load())
	}
}

// Download keeps the verified bytes as they are (a chart archive is not extracted), retried
// after a 503, read from the start; a wrong digest is refused.
func TestDownloadVerifiesWithoutExtracting(t *testing.T) {
	data := []byte("an archive's bytes, kept as they are")
	srv := newArtifactServer(t, data, 1)
	f, err := os.CreateTemp(t.TempDir(), "chart-*.tgz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := fastFetcher.Download(context.Background(), srv.URL+"/artifact.tar.gz", digestOf(data), f); err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(f); string(got) != string(data) {
		t.Fatalf("read %q", got)
	}
	err = fastFetcher.Download(context.Background(), srv.URL+"/artifact.tar.gz", digestOf([]byte("other")), f)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("a wrong digest: %v", err)
	}
}
