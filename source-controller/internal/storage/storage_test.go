package storage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/driftless-dev/driftless/pkg/artifact"
)

func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func newStorage(t *testing.T) *Storage {
	t.Helper()
	s, err := New(t.TempDir(), "source-controller.flux-system.svc.cluster.local.", time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type entry struct {
	name    string
	mode    int64
	uid     int
	uname   string
	mtime   int64
	content string
}

func readTarGz(t *testing.T, data []byte) []entry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, entry{h.Name, h.Mode, h.Uid, h.Uname, h.ModTime.Unix(), string(b)})
	}
}

func TestArchiveIsDeterministic(t *testing.T) {
	files := map[string]string{"b/deploy.yaml": "kind: Deployment", "a.yaml": "kind: Service", "run.sh": "#!/bin/sh"}
	dirA, dirB := tree(t, files), tree(t, files)
	// Different mtimes on disk must not change the bytes.
	old := time.Now().Add(-48 * time.Hour)
	_ = os.Chtimes(filepath.Join(dirB, "a.yaml"), old, old)

	s := newStorage(t)
	a1 := s.NewArtifact("GitRepository", "default", "x", "main@sha1:1", "1.tar.gz")
	a2 := s.NewArtifact("GitRepository", "default", "x", "main@sha1:2", "2.tar.gz")
	if err := s.Archive(&a1, DirSource(dirA), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Archive(&a2, DirSource(dirB), nil); err != nil {
		t.Fatal(err)
	}
	if a1.Digest != a2.Digest || *a1.Size != *a2.Size {
		t.Fatalf("same tree, different artifacts: %s vs %s", a1.Digest, a2.Digest)
	}
	p, _ := s.LocalPath(a1)
	data, _ := os.ReadFile(p)
	sum := sha256.Sum256(data)
	if a1.Digest != "sha256:"+hex.EncodeToString(sum[:]) || *a1.Size != int64(len(data)) {
		t.Fatalf("digest/size do not describe the file")
	}
	got := readTarGz(t, data)
	want := []entry{
		{"a.yaml", 0o600, 0, "", 0, "kind: Service"},
		{"b/", 0o750, 0, "", 0, ""},
		{"b/deploy.yaml", 0o600, 0, "", 0, "kind: Deployment"},
		{"run.sh", 0o700, 0, "", 0, "#!/bin/sh"},
	}
	if len(got) != len(want) {
		t.Fatalf("entries = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if a1.URL != "http://source-controller.flux-system.svc.cluster.local./gitrepository/default/x/1.tar.gz" ||
		a1.Path != "gitrepository/default/x/1.tar.gz" {
		t.Errorf("path/url = %s %s", a1.Path, a1.URL)
	}
}

func TestArchiveSkipsGitSymlinksAndFiltered(t *testing.T) {
	dir := tree(t, map[string]string{".git/HEAD": "ref", "keep.yaml": "k", "skip/x.yaml": "x", "logo.png": "p"})
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	s := newStorage(t)
	a := s.NewArtifact("GitRepository", "default", "x", "r", "r.tar.gz")
	filter := func(p string, isDir bool) bool { return p == "skip" || strings.HasSuffix(p, ".png") }
	if err := s.Archive(&a, DirSource(dir), filter); err != nil {
		t.Fatal(err)
	}
	p, _ := s.LocalPath(a)
	data, _ := os.ReadFile(p)
	var names []string
	for _, e := range readTarGz(t, data) {
		names = append(names, e.name)
	}
	if strings.Join(names, ",") != "keep.yaml" {
		t.Fatalf("entries = %v, want only keep.yaml", names)
	}
}

func TestVerifyDetectsMissingAndCorrupt(t *testing.T) {
	s := newStorage(t)
	a := s.NewArtifact("GitRepository", "default", "x", "r", "r.tar.gz")
	if err := s.Archive(&a, DirSource(tree(t, map[string]string{"a": "b"})), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(a); err != nil {
		t.Fatal(err)
	}
	p, _ := s.LocalPath(a)
	if err := os.WriteFile(p, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(a); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("corruption not detected: %v", err)
	}
	_ = os.Remove(p)
	if err := s.Verify(a); err == nil {
		t.Fatal("missing file not detected")
	}
}

func TestGarbageCollect(t *testing.T) {
	s := newStorage(t) // keeps 2 records, TTL 1m
	src := tree(t, map[string]string{"a": "b"})
	var arts []string
	now := time.Now()
	for i, name := range []string{"1.tar.gz", "2.tar.gz", "3.tar.gz", "4.tar.gz"} {
		a := s.NewArtifact("GitRepository", "default", "x", name, name)
		if err := s.Archive(&a, DirSource(src), nil); err != nil {
			t.Fatal(err)
		}
		p, _ := s.LocalPath(a)
		age := now.Add(-time.Duration(10-i) * time.Minute) // 1 is oldest
		_ = os.Chtimes(p, age, age)
		arts = append(arts, p)
	}
	current := s.NewArtifact("GitRepository", "default", "x", "4", "4.tar.gz")
	if _, err := s.SetLatest(current, "latest.tar.gz"); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.GarbageCollect(current, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 {
		t.Fatalf("deleted %v, want the two oldest", deleted)
	}
	for i, p := range arts {
		_, err := os.Stat(p)
		if exists := err == nil; exists != (i >= 2) {
			t.Errorf("%s exists=%v", filepath.Base(p), exists)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(arts[0]), "latest.tar.gz")); err != nil {
		t.Errorf("latest symlink removed: %v", err)
	}

	// Young artifacts survive beyond the record count.
	s.RetentionRecords = 1
	deleted, _ = s.GarbageCollect(current, now.Add(-9*time.Minute))
	if len(deleted) != 0 {
		t.Fatalf("deleted artifacts younger than the TTL: %v", deleted)
	}
}

func TestConcurrentReaderNeverSeesPartialArtifact(t *testing.T) {
	s := newStorage(t)
	big := strings.Repeat("0123456789abcdef", 1<<14)
	srcs := []string{tree(t, map[string]string{"a": big, "b": "1"}), tree(t, map[string]string{"a": big, "b": "2"})}
	a := s.NewArtifact("GitRepository", "default", "x", "r", "r.tar.gz")
	if err := s.Archive(&a, DirSource(srcs[0]), nil); err != nil {
		t.Fatal(err)
	}
	valid := map[string]bool{a.Digest: true}
	var mu sync.Mutex
	p, _ := s.LocalPath(a)

	stop := make(chan struct{})
	var reads, bad atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := os.ReadFile(p)
			if err != nil {
				bad.Add(1)
				continue
			}
			sum := sha256.Sum256(data)
			mu.Lock()
			ok := valid["sha256:"+hex.EncodeToString(sum[:])]
			mu.Unlock()
			if !ok {
				bad.Add(1)
			}
			reads.Add(1)
		}
	}()
	for i := range 30 {
		b := s.NewArtifact("GitRepository", "default", "x", "r", "r.tar.gz")
		// Compute the digest first so the reader knows both versions are valid.
		var buf bytes.Buffer
		_ = WriteTarGz(&buf, DirSource(srcs[i%2]), nil, artifact.Limits{})
		sum := sha256.Sum256(buf.Bytes())
		mu.Lock()
		valid["sha256:"+hex.EncodeToString(sum[:])] = true
		mu.Unlock()
		if err := s.Archive(&b, DirSource(srcs[i%2]), nil); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad.Load() != 0 || reads.Load() == 0 {
		t.Fatalf("%d of %d reads saw a partial or missing artifact", bad.Load(), reads.Load())
	}
}

func TestServer(t *testing.T) {
	s := newStorage(t)
	a := s.NewArtifact("GitRepository", "default", "x", "r", "abc.tar.gz")
	if err := s.Archive(&a, DirSource(tree(t, map[string]string{"a": "b"})), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetLatest(a, "latest.tar.gz"); err != nil {
		t.Fatal(err)
	}
	// A symlink that escapes the root must not be followed.
	outside := filepath.Join(t.TempDir(), "secret")
	_ = os.WriteFile(outside, []byte("secret"), 0o644)
	_ = os.Symlink(outside, filepath.Join(s.Root, "gitrepository", "default", "x", "escape"))

	// An artifact being written, and anything else hidden, is not served.
	dir := filepath.Join(s.Root, "gitrepository", "default", "x")
	_ = os.WriteFile(filepath.Join(dir, ".tmp-abc.tar.gz-123"), []byte("partial"), 0o644)
	_ = os.Symlink(".tmp-abc.tar.gz-123", filepath.Join(dir, "partial.tar.gz"))
	_ = os.MkdirAll(filepath.Join(s.Root, ".hidden"), 0o755)
	_ = os.WriteFile(filepath.Join(s.Root, ".hidden", "a.tar.gz"), []byte("hidden"), 0o644)

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/gitrepository/default/x/abc.tar.gz", 200},
		{"GET", "/gitrepository/default/x/latest.tar.gz", 200},
		{"HEAD", "/gitrepository/default/x/abc.tar.gz", 200},
		{"GET", "/gitrepository/default/x/", 404},
		{"GET", "/", 404},
		{"GET", "/gitrepository/default/x/escape", 404},
		{"GET", "/../../etc/passwd", 404},
		{"GET", "/gitrepository/default/x/missing.tar.gz", 404},
		{"POST", "/gitrepository/default/x/abc.tar.gz", 405},
		{"GET", "/gitrepository/default/x/.tmp-abc.tar.gz-123", 404},
		{"GET", "/gitrepository/default/x/partial.tar.gz", 404},
		{"GET", "/.hidden/a.tar.gz", 404},
		{"GET", "/gitrepository/default/x/%2Etmp-abc.tar.gz-123", 404},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
		if strings.Contains(string(body), "secret") || strings.Contains(string(body), "partial") || strings.Contains(string(body), "hidden") {
			t.Errorf("%s %s served a file it must not: outside the root, partial or hidden", tt.method, tt.path)
		}
	}
	resp, _ := http.Get(srv.URL + "/gitrepository/default/x/latest.tar.gz")
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(data)
	if "sha256:"+hex.EncodeToString(sum[:]) != a.Digest {
		t.Fatal("served bytes do not match the recorded digest")
	}
}

func TestArchiveNeverRewritesAnExistingArtifact(t *testing.T) {
	s := newStorage(t)
	first := s.NewArtifact("GitRepository", "default", "x", "main@sha1:abc", "abc.tar.gz")
	if err := s.Archive(&first, DirSource(tree(t, map[string]string{"a": "1"})), nil); err != nil {
		t.Fatal(err)
	}
	// The same commit packed again with the same content reuses the name.
	same := s.NewArtifact("GitRepository", "default", "x", "main@sha1:abc", "abc.tar.gz")
	if err := s.Archive(&same, DirSource(tree(t, map[string]string{"a": "1"})), nil); err != nil {
		t.Fatal(err)
	}
	if same.Path != first.Path || same.Digest != first.Digest {
		t.Fatalf("identical content got %s, want %s", same.Path, first.Path)
	}
	// Other content for the same commit (an include or ignore change) gets its own file.
	other := s.NewArtifact("GitRepository", "default", "x", "main@sha1:abc", "abc.tar.gz")
	if err := s.Archive(&other, DirSource(tree(t, map[string]string{"a": "2"})), nil); err != nil {
		t.Fatal(err)
	}
	if other.Path == first.Path || !strings.HasPrefix(other.Path, "gitrepository/default/x/abc-") || !strings.HasSuffix(other.URL, other.Path) {
		t.Fatalf("different content stored at %s (%s)", other.Path, other.URL)
	}
	if err := s.Verify(first); err != nil {
		t.Fatalf("the first artifact was rewritten: %v", err)
	}
	if err := s.Verify(other); err != nil {
		t.Fatal(err)
	}
}

// What would be refused when opened is refused when packed, by name, and nothing is written.
func TestArchiveRefusesWhatExceedsTheLimits(t *testing.T) {
	files := map[string]string{"small.yaml": "a", "big/blob.bin": strings.Repeat("x", 2<<20), "c.yaml": strings.Repeat("c", 600<<10)}
	for _, tc := range []struct {
		name   string
		limits artifact.Limits
		want   string
	}{
		{"a file too large", artifact.Limits{MaxFileBytes: 1 << 20}, "file 'big/blob.bin' holds 2097152 bytes"},
		{"too many bytes", artifact.Limits{MaxBytes: 2 << 20}, "the files hold more than 2097152 bytes"},
		{"too many entries", artifact.Limits{MaxFiles: 3}, "more than 3 entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStorage(t)
			s.Limits = tc.limits
			a := s.NewArtifact("GitRepository", "default", "big", "main@sha1:0001", "0001.tar.gz")
			err := s.Archive(&a, DirSource(tree(t, files)), nil)
			if !errors.Is(err, artifact.ErrTooLarge) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			dir := filepath.Join(s.Root, "gitrepository", "default", "big")
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files left in storage: %v", entries)
			}
		})
	}
}

// A client that keeps a connection open without asking for anything is disconnected.
func TestServerDropsIdleConnections(t *testing.T) {
	s := newStorage(t)
	a := s.NewArtifact("GitRepository", "default", "x", "r", "abc.tar.gz")
	if err := s.Archive(&a, DirSource(tree(t, map[string]string{"a": "b"})), nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Storage: s, IdleTimeout: 200 * time.Millisecond}).Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET /gitrepository/default/x/abc.tar.gz HTTP/1.1\r\nHost: storage\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Kept alive, then idle: the server closes it.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("an idle connection was not closed by the server: %v", err)
	}
}
