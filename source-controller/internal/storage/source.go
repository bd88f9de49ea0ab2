package storage

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Entry is one file or directory of an artifact, with a slash-separated relative path.
type Entry struct {
	Path       string
	Dir        bool
	Executable bool
	Size       int64
	// Open returns the file's contents; nil for directories.
	Open func() (io.ReadCloser, error)
}

// Source yields the entries of a tree. Every Source must yield them in the same order for the
// same tree: depth-first, and within a directory by name in byte order (the order of
// filepath.WalkDir). Excluded directories are skipped with their contents.
type Source interface {
	Walk(exclude Filter, fn func(Entry) error) error
}

// DirSource is a directory on disk. Only regular files and directories are yielded; '.git'
// is skipped.
type DirSource string

// Walk implements Source.
func (d DirSource) Walk(exclude Filter, fn func(Entry) error) error {
	root := string(d)
	return filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if de.IsDir() && de.Name() == ".git" {
			return filepath.SkipDir
		}
		if exclude != nil && exclude(rel, de.IsDir()) {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case de.IsDir():
			return fn(Entry{Path: rel, Dir: true})
		case de.Type().IsRegular():
			info, err := de.Info()
			if err != nil {
				return err
			}
			return fn(Entry{
				Path: rel, Size: info.Size(), Executable: info.Mode()&0o111 != 0,
				Open: func() (io.ReadCloser, error) { return os.Open(p) },
			})
		default:
			return nil // symlinks, devices and sockets are not part of an artifact
		}
	})
}
