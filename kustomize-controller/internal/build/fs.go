package build

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// ErrOutsideRoot marks an attempt to read outside the artifact root.
var ErrOutsideRoot = errors.New("path is outside the artifact root")

// confinedFS reads from root on disk, refusing any path (or symlink target) outside root, and
// keeps every write in memory, so the tree on disk is never changed.
type confinedFS struct {
	root string
	// overlay is an in-memory directory beside root (never on disk) for the overrides'
	// kustomization: kustomize refuses an overlay inside the directory it builds.
	overlay string
	disk    filesys.FileSystem
	mem     filesys.FileSystem
	// decrypt, when set, decrypts the files read from disk; the plaintext stays in memory.
	decrypt Decryptor
	// decryptErr is the first decryption failure, which kustomize's error buries.
	decryptErr error
	// allowRemote lets kustomization files name remote bases and files.
	allowRemote bool
	// refused is the first kustomization file refused for a remote entry, which kustomize's
	// error buries too.
	refused error
}

func newConfinedFS(root string) (*confinedFS, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(real)
	if err != nil {
		return nil, err
	}
	return &confinedFS{root: abs, overlay: abs + ".driftless-overlay", disk: filesys.MakeFsOnDisk(), mem: filesys.MakeFsInMemory()}, nil
}

// confine returns the cleaned absolute path, or an error when it or the file it resolves to
// lies outside the root.
func (c *confinedFS) confine(path string) (string, error) {
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(c.root, abs)
	}
	abs = filepath.Clean(abs)
	if abs == c.overlay || strings.HasPrefix(abs, c.overlay+string(os.PathSeparator)) {
		return abs, nil // in memory only: disk reads below never see it
	}
	if !c.inside(abs) {
		return "", fmt.Errorf("%w: %s", ErrOutsideRoot, c.rel(abs))
	}
	if c.mem.Exists(abs) && !c.mem.IsDir(abs) {
		return abs, nil // a file this build wrote (through confine), never a link: read from memory
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil && !c.inside(resolved) {
		return "", fmt.Errorf("%w: %s is a link to a file outside it", ErrOutsideRoot, c.rel(abs))
	}
	return abs, nil
}

func (c *confinedFS) inside(p string) bool {
	return p == c.root || strings.HasPrefix(p, c.root+string(os.PathSeparator))
}

// rel names a path for messages without revealing the controller's directories.
func (c *confinedFS) rel(p string) string {
	if r, err := filepath.Rel(c.root, p); err == nil {
		return r
	}
	return filepath.Base(p)
}

func (c *confinedFS) Create(path string) (filesys.File, error) {
	p, err := c.confine(path)
	if err != nil {
		return nil, err
	}
	return c.mem.Create(p)
}

func (c *confinedFS) Mkdir(path string) error {
	p, err := c.confine(path)
	if err != nil {
		return err
	}
	return c.mem.Mkdir(p)
}

func (c *confinedFS) MkdirAll(path string) error {
	p, err := c.confine(path)
	if err != nil {
		return err
	}
	return c.mem.MkdirAll(p)
}

func (c *confinedFS) RemoveAll(path string) error {
	p, err := c.confine(path)
	if err != nil {
		return err
	}
	return c.mem.RemoveAll(p)
}

func (c *confinedFS) Open(path string) (filesys.File, error) {
	p, err := c.confine(path)
	if err != nil {
		return nil, err
	}
	if c.decrypt != nil && !c.mem.Exists(p) && !c.disk.IsDir(p) {
		if _, err := c.readDisk(p); err != nil { // the plaintext, if any, is now in memory
			return nil, err
		}
	}
	if c.mem.Exists(p) {
		return c.mem.Open(p)
	}
	return c.disk.Open(p)
}

func (c *confinedFS) IsDir(path string) bool {
	p, err := c.confine(path)
	if err != nil {
		return false
	}
	return c.mem.IsDir(p) || c.disk.IsDir(p)
}

func (c *confinedFS) ReadDir(path string) ([]string, error) {
	p, err := c.confine(path)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	diskNames, diskErr := c.disk.ReadDir(p)
	for _, n := range diskNames {
		names[n] = true
	}
	memNames, memErr := c.mem.ReadDir(p)
	for _, n := range memNames {
		names[n] = true
	}
	if diskErr != nil && memErr != nil {
		return nil, diskErr
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func (c *confinedFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	p, err := c.confine(path)
	if err != nil {
		return "", "", err
	}
	if c.IsDir(p) {
		return filesys.ConfirmedDir(p), "", nil
	}
	dir := filepath.Dir(p)
	if !c.IsDir(dir) {
		return "", "", fmt.Errorf("'%s' does not exist", c.rel(p))
	}
	return filesys.ConfirmedDir(dir), filepath.Base(p), nil
}

func (c *confinedFS) Exists(path string) bool {
	p, err := c.confine(path)
	if err != nil {
		return false
	}
	return c.mem.Exists(p) || c.disk.Exists(p)
}

func (c *confinedFS) Glob(pattern string) ([]string, error) {
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(c.root, pattern) // as confine reads a relative path
	}
	if _, err := c.confine(filepath.Dir(pattern)); err != nil {
		return nil, err
	}
	matches, err := c.disk.Glob(pattern)
	if err != nil {
		return nil, err
	}
	out := matches[:0]
	seen := map[string]bool{}
	for _, m := range matches {
		if _, err := c.confine(m); err == nil {
			out = append(out, m)
			seen[m] = true
		}
	}
	// Files written in memory, except decrypted files already listed from disk.
	memMatches, _ := c.mem.Glob(pattern)
	for _, m := range memMatches {
		if !seen[m] {
			out = append(out, m)
		}
	}
	return out, nil
}

func (c *confinedFS) ReadFile(path string) ([]byte, error) {
	p, err := c.confine(path)
	if err != nil {
		return nil, err
	}
	var data []byte
	if c.mem.Exists(p) {
		data, err = c.mem.ReadFile(p)
	} else {
		data, err = c.readDisk(p)
	}
	if err == nil && !c.allowRemote && isKustomizationFile(filepath.Base(p)) {
		// Refused before kustomize reads it: a remote entry is never fetched.
		if err = refuseRemote(c.rel(p), data); err != nil {
			if c.refused == nil {
				c.refused = err
			}
			return nil, err
		}
	}
	return data, err
}

// readDisk reads a file from disk, decrypting it when it is encrypted: the plaintext is kept
// in memory, in place of the file, for the rest of the build.
func (c *confinedFS) readDisk(p string) ([]byte, error) {
	data, err := c.disk.ReadFile(p)
	if err != nil || c.decrypt == nil {
		return data, err
	}
	plain, err := c.decrypt.File(c.rel(p), data)
	if err != nil {
		if c.decryptErr == nil {
			c.decryptErr = err
		}
		return nil, err
	}
	if !bytes.Equal(plain, data) {
		if err := c.mem.MkdirAll(filepath.Dir(p)); err != nil {
			return nil, err
		}
		if err := c.mem.WriteFile(p, plain); err != nil {
			return nil, err
		}
	}
	return plain, nil
}

func (c *confinedFS) WriteFile(path string, data []byte) error {
	p, err := c.confine(path)
	if err != nil {
		return err
	}
	if err := c.mem.MkdirAll(filepath.Dir(p)); err != nil {
		return err
	}
	return c.mem.WriteFile(p, data)
}

func (c *confinedFS) Walk(path string, walkFn filepath.WalkFunc) error {
	p, err := c.confine(path)
	if err != nil {
		return err
	}
	return c.disk.Walk(p, func(fp string, info os.FileInfo, err error) error {
		if _, cerr := c.confine(fp); cerr != nil {
			return walkFn(fp, info, cerr)
		}
		return walkFn(fp, info, err)
	})
}

var _ filesys.FileSystem = &confinedFS{}
