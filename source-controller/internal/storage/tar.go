package storage

import (
	"archive/tar"
	"github.com/klauspost/compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Filter reports whether a path (slash-separated, relative to the archived directory) is
// excluded. isDir tells whether the path is a directory; excluding one skips its contents.
type Filter func(path string, isDir bool) bool

// epoch is the modification time of every archive entry, so equal trees give equal bytes.
var epoch = time.Unix(0, 0).UTC()

// WriteTarGz writes dir as a deterministic gzip tar: entries in lexical order, owned by 0:0 with
// no user or group names, mtime at the epoch, directories 0750, files 0600 or 0700 when
// executable, and only regular files and directories. '.git' is always left out.
func WriteTarGz(w io.Writer, dir string, filter Filter) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() && (d.Name() == ".git") {
			return filepath.SkipDir
		}
		if filter != nil && filter(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o750, ModTime: epoch, Format: tar.FormatPAX,
			})
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := int64(0o600)
			if info.Mode()&0o111 != 0 {
				mode = 0o700
			}
			if err := tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeReg, Name: rel, Mode: mode, Size: info.Size(), ModTime: epoch, Format: tar.FormatPAX,
			}); err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			_ = f.Close()
			return err
		default:
			return nil // symlinks, devices and sockets are not part of an artifact
		}
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
