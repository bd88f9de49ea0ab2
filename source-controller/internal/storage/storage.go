package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
)

// Storage is the artifact store rooted at a local directory.
type Storage struct {
	// Root is the directory holding every artifact.
	Root string
	// Hostname is the host (and port) of the artifact server as consumers reach it.
	Hostname string
	// RetentionTTL is how long superseded artifacts are kept.
	RetentionTTL time.Duration
	// RetentionRecords is how many artifacts per object are kept regardless of age.
	RetentionRecords int
	// Limits bound what is packed into an artifact, and what is unpacked from one (an
	// included artifact).
	Limits artifact.Limits
}

// New returns a Storage rooted at root, creating it if needed.
func New(root, hostname string, ttl time.Duration, records int) (*Storage, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating storage root: %w", err)
	}
	// Resolve symlinks so that the containment checks compare real paths.
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, err
	}
	if records < 1 {
		records = 1
	}
	return &Storage{Root: abs, Hostname: hostname, RetentionTTL: ttl, RetentionRecords: records}, nil
}

// NewArtifact returns the artifact record for a file of an object, without writing anything.
func (s *Storage) NewArtifact(kind, namespace, name, revision, filename string) meta.Artifact {
	path := meta.ArtifactPath(kind, namespace, name, filename)
	return meta.Artifact{Path: path, URL: s.URL(path), Revision: revision}
}

// URL returns the HTTP address of a storage path.
func (s *Storage) URL(path string) string {
	u := url.URL{Scheme: "http", Host: s.Hostname, Path: "/" + strings.TrimLeft(path, "/")}
	return u.String()
}

// LocalPath returns the file of an artifact, refusing paths that leave the root.
func (s *Storage) LocalPath(a meta.Artifact) (string, error) {
	return s.join(a.Path)
}

func (s *Storage) join(rel string) (string, error) {
	clean := filepath.Clean("/" + rel)
	p := filepath.Join(s.Root, clean)
	if !strings.HasPrefix(p, s.Root+string(os.PathSeparator)) {
		return "", fmt.Errorf("path %q leaves the storage root", rel)
	}
	return p, nil
}

// Archive packs src into the artifact's tar.gz, skipping what filter excludes, and fills in the
// artifact's digest, size and lastUpdateTime (see Store).
func (s *Storage) Archive(a *meta.Artifact, src Source, filter Filter) error {
	return s.Store(a, func(w io.Writer) error {
		if err := WriteTarGz(w, src, filter, s.Limits); err != nil {
			return fmt.Errorf("packing %s: %w", a.Revision, err)
		}
		return nil
	})
}

// Store writes what write produces as the artifact's file, and fills in the artifact's
// digest, size and lastUpdateTime. Artifact files are immutable: the file appears atomically
// (never partial), and when a file of that name already holds different content (the same
// commit packed with other settings), the new artifact is stored as
// '<name>-<12 hex of digest><ext>' instead, so that a consumer holding the old digest never
// downloads bytes that do not match it.
func (s *Storage) Store(a *meta.Artifact, write func(io.Writer) error) error {
	target, err := s.LocalPath(*a)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("creating artifact directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".tmp-"+filepath.Base(target)+"-")
	if err != nil {
		return fmt.Errorf("creating temporary artifact: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // a no-op after the rename

	h := sha256.New()
	counted := &countingWriter{w: io.MultiWriter(tmp, h)}
	if err := write(counted); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	a.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if existing := *a; s.Verify(existing) != nil && fileExists(target) {
		// Same name, other content: keep the existing file untouched.
		hexDigest := strings.TrimPrefix(a.Digest, "sha256:")
		ext := ".tar.gz"
		if !strings.HasSuffix(a.Path, ext) {
			ext = path.Ext(a.Path)
		}
		a.Path = strings.TrimSuffix(a.Path, ext) + "-" + hexDigest[:12] + ext
		a.URL = s.URL(a.Path)
		if target, err = s.LocalPath(*a); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("storing artifact: %w", err)
	}
	size := counted.n
	a.Size = &size
	a.LastUpdateTime = metav1.Now()
	return nil
}

// Sidecar is a hidden directory next to the object's artifacts, for what the controller keeps
// about them (a Helm index's chart lookup): not served, not garbage collected.
func (s *Storage) Sidecar(a meta.Artifact, name string) (string, error) {
	target, err := s.LocalPath(a)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(target), "."+name), nil
}

// ObjectSidecar is the hidden directory name next to the artifacts of an object, which may
// have none yet (see Sidecar); removed with them by RemoveAll.
func (s *Storage) ObjectSidecar(kind, namespace, name, sidecar string) (string, error) {
	dir, err := s.join(meta.ArtifactDir(kind, namespace, name))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "."+sidecar), nil
}

// Verify checks that the artifact's file exists and has the recorded digest.
func (s *Storage) Verify(a meta.Artifact) error {
	p, err := s.LocalPath(a)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != a.Digest {
		return fmt.Errorf("digest mismatch: stored file has %s, status records %s", got, a.Digest)
	}
	return nil
}

// SetLatest points the object's 'latest' symlink (latest.tar.gz) at the artifact and returns
// the symlink's URL.
func (s *Storage) SetLatest(a meta.Artifact, linkName string) (string, error) {
	target, err := s.LocalPath(a)
	if err != nil {
		return "", err
	}
	link := filepath.Join(filepath.Dir(target), linkName)
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(target), tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, link); err != nil {
		return "", err
	}
	return s.URL(filepath.ToSlash(filepath.Join(filepath.Dir(a.Path), linkName))), nil
}

// GarbageCollect deletes the object's superseded artifacts: it keeps the current one and the
// newest RetentionRecords files, and deletes the others once they are older than RetentionTTL.
// It returns the deleted paths.
func (s *Storage) GarbageCollect(current meta.Artifact, now time.Time) ([]string, error) {
	target, err := s.LocalPath(current)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(target)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue // the latest symlink, temporary files
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{filepath.Join(dir, e.Name()), info.ModTime()})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.After(files[j].mod) })
	var deleted []string
	var errs []error
	for i, f := range files {
		if f.path == target || i < s.RetentionRecords || now.Sub(f.mod) < s.RetentionTTL {
			continue
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, f.path)
	}
	return deleted, errors.Join(errs...)
}

// RemoveAll deletes every artifact of an object.
func (s *Storage) RemoveAll(kind, namespace, name string) error {
	dir, err := s.join(meta.ArtifactDir(kind, namespace, name))
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
