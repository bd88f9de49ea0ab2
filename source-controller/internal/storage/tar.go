package storage

import (
	"archive/tar"
	"github.com/klauspost/compress/gzip"
	"io"
	"time"
)

// Filter reports whether a path (slash-separated, relative to the archived directory) is
// excluded. isDir tells whether the path is a directory; excluding one skips its contents.
type Filter func(path string, isDir bool) bool

// epoch is the modification time of every archive entry, so equal trees give equal bytes.
var epoch = time.Unix(0, 0).UTC()

// WriteTarGz writes src as a deterministic gzip tar: entries in the Source's order, owned by
// 0:0 with no user or group names, mtime at the epoch, directories 0750, files 0600 or 0700
// when executable.
func WriteTarGz(w io.Writer, src Source, exclude Filter) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	err := src.Walk(exclude, func(e Entry) error {
		if e.Dir {
			return tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeDir, Name: e.Path + "/", Mode: 0o750, ModTime: epoch, Format: tar.FormatPAX,
			})
		}
		mode := int64(0o600)
		if e.Executable {
			mode = 0o700
		}
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: e.Path, Mode: mode, Size: e.Size, ModTime: epoch, Format: tar.FormatPAX,
		}); err != nil {
			return err
		}
		r, err := e.Open()
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
