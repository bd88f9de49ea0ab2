package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Cache holds extracted artifacts, one read-only directory per digest, shared by every user of
// that digest: many Kustomizations on one monorepo revision cost one download and one
// extraction. Concurrent Acquires of a digest wait for a single fetch.
type Cache struct {
	root    string
	fetcher *Fetcher

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	dir      string
	ready    chan struct{} // closed when the fetch ended
	err      error
	users    int
	lastUsed time.Time
}

// NewCache returns a cache under root, which it creates.
func NewCache(root string, fetcher *Fetcher) (*Cache, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	// What an earlier process left (complete trees, or half-extracted ones if it was killed)
	// is not trusted: the cache starts empty, and each revision is fetched once more.
	leftovers, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, l := range leftovers {
		if err := removeTree(filepath.Join(root, l.Name())); err != nil {
			return nil, fmt.Errorf("clearing the artifact cache: %w", err)
		}
	}
	return &Cache{root: root, fetcher: fetcher, entries: map[string]*entry{}}, nil
}

// Acquire returns the extracted tree of the artifact with digest, fetching it from url when
// it is not cached. The tree is read-only and stays until release is called and the entry is
// pruned; release must be called exactly once.
func (c *Cache) Acquire(ctx context.Context, url, digest string) (dir string, release func(), err error) {
	c.mu.Lock()
	e, ok := c.entries[digest]
	if !ok {
		sum := sha256.Sum256([]byte(digest))
		e = &entry{dir: filepath.Join(c.root, hex.EncodeToString(sum[:8])), ready: make(chan struct{})}
		c.entries[digest] = e
		go c.fill(url, digest, e)
	}
	e.users++
	c.mu.Unlock()

	release = func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		e.users--
		e.lastUsed = time.Now()
	}
	select {
	case <-ctx.Done():
		release()
		return "", nil, ctx.Err()
	case <-e.ready:
	}
	if e.err != nil {
		release()
		return "", nil, e.err
	}
	return e.dir, release, nil
}

// fill fetches an entry once. It runs detached from any one caller's context, so that a
// caller giving up does not fail the others; a failed entry is forgotten so the next Acquire
// tries again.
func (c *Cache) fill(url, digest string, e *entry) {
	defer close(e.ready)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp(c.root, ".fetch-")
	if err == nil {
		if err = c.fetcher.Fetch(ctx, url, digest, tmp); err == nil {
			if err = makeReadOnly(tmp); err == nil {
				// A tree of the same digest may still be on disk: pruned from the index
				// while its removal failed. Replace it.
				if _, statErr := os.Lstat(e.dir); statErr == nil {
					err = removeTree(e.dir)
				}
				if err == nil {
					err = os.Rename(tmp, e.dir)
				}
			}
		}
		if err != nil {
			_ = removeTree(tmp)
		}
	}
	if err != nil {
		e.err = err
		c.mu.Lock()
		if c.entries[digest] == e {
			delete(c.entries, digest)
		}
		c.mu.Unlock()
	}
}

// Prune removes the trees nobody uses and that are not in keep (digests still referenced by
// sources), or that have been idle for longer than idle. It returns how many it removed.
func (c *Cache) Prune(keep map[string]bool, idle time.Duration) int {
	now := time.Now()
	c.mu.Lock()
	var victims []*entry
	for digest, e := range c.entries {
		select {
		case <-e.ready:
		default:
			continue // still fetching
		}
		if e.users > 0 || (keep[digest] && now.Sub(e.lastUsed) < idle) {
			continue
		}
		victims = append(victims, e)
		delete(c.entries, digest)
	}
	c.mu.Unlock()
	for _, e := range victims {
		_ = removeTree(e.dir)
	}
	return len(victims)
}

// Len returns the number of cached artifacts.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// makeReadOnly removes write permission from a tree, so that no user of the shared tree can
// change it for the others.
func makeReadOnly(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chmod(p, info.Mode().Perm()&^0o222)
	})
}

// removeTree restores write permission on directories, then removes the tree.
func removeTree(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(dir)
}
