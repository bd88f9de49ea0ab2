package git

import (
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// TreeSource yields a commit's tree as artifact entries straight from the object store, in the
// same order and with the same modes as a checkout walked from disk, so that both give the
// same artifact. Symbolic links and submodules are left out, as on disk. Sparse, when set,
// keeps only files under those directories (and the directories leading to them).
type TreeSource struct {
	Tree   *object.Tree
	Sparse []string
}

// Walk implements storage.Source.
func (s TreeSource) Walk(exclude storage.Filter, fn func(storage.Entry) error) error {
	return s.walk(s.Tree, "", exclude, fn)
}

func (s TreeSource) walk(t *object.Tree, prefix string, exclude storage.Filter, fn func(storage.Entry) error) error {
	entries := append([]object.TreeEntry(nil), t.Entries...)
	// Git orders a directory 'a' as 'a/'; a directory walk orders it as 'a'.
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	for _, e := range entries {
		p := prefix + e.Name
		switch e.Mode {
		case filemode.Dir:
			if e.Name == ".git" || !s.keepDir(p) || (exclude != nil && exclude(p, true)) {
				continue
			}
			if err := fn(storage.Entry{Path: p, Dir: true}); err != nil {
				return err
			}
			sub, err := t.Tree(e.Name)
			if err != nil {
				return err
			}
			if err := s.walk(sub, p+"/", exclude, fn); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			if !s.keepFile(p) || (exclude != nil && exclude(p, false)) {
				continue
			}
			blob, err := t.TreeEntryFile(&e)
			if err != nil {
				return err
			}
			if err := fn(storage.Entry{
				Path: p, Size: blob.Size, Executable: e.Mode == filemode.Executable,
				Open: func() (io.ReadCloser, error) { return blob.Reader() },
			}); err != nil {
				return err
			}
		default: // symlinks and submodules
		}
	}
	return nil
}

// keepDir keeps a directory that is inside a sparse directory or leads to one.
func (s TreeSource) keepDir(p string) bool {
	if len(s.Sparse) == 0 {
		return true
	}
	for _, d := range s.Sparse {
		d = strings.Trim(d, "/")
		if p == d || strings.HasPrefix(p, d+"/") || strings.HasPrefix(d, p+"/") {
			return true
		}
	}
	return false
}

// keepFile keeps a file inside a sparse directory.
func (s TreeSource) keepFile(p string) bool {
	if len(s.Sparse) == 0 {
		return true
	}
	for _, d := range s.Sparse {
		if strings.HasPrefix(p, strings.Trim(d, "/")+"/") {
			return true
		}
	}
	return false
}

// IgnoreFiles returns the contents of every file named name that the source keeps, keyed by
// the slash-separated directory holding it ("" for the root).
func (s TreeSource) IgnoreFiles(name string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.Tree.Files().ForEach(func(f *object.File) error {
		if (f.Name != name && !strings.HasSuffix(f.Name, "/"+name)) || !s.keepFile(f.Name) {
			return nil
		}
		content, err := f.Contents()
		if err != nil {
			return err
		}
		dir := strings.TrimSuffix(strings.TrimSuffix(f.Name, name), "/")
		out[dir] = []byte(content)
		return nil
	})
	return out, err
}
