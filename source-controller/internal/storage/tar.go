package storage

import (
	"archive/tar"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/driftless-dev/driftless/pkg/artifact"
)

// Filter reports whether a path (slash-separated, relative to the archived directory) is
// excluded. isDir tells whether the path is a directory; excluding one skips its contents.
type Filter func(path string, isDir bool) bool

// epoch is the modification time of every archive entry, so equal trees give equal bytes.
var epoch = time.Unix(0, 0).UTC()

// WriteTarGz writes src as a deterministic gzip tar: entries in the Source's order, owned by
// 0:0 with no user or group names, mtime at the epoch, directories 0750, files 0600 or 0700
// when executable. A tree beyond limits (a file too large, too many entries, too many bytes)
// is refused by name: what source-controller would pack, its consumers would refuse to open.
func WriteTarGz(w io.Writer, src Source, exclude Filter, limits artifact.Limits) error {
	limits = limits.WithDefaults()
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	var total int64
	entries := 0
	err := src.Walk(exclude, func(e Entry) error {
		if entries++; entries > limits.MaxFiles {
			return fmt.Errorf("%w: more than %d entries", artifact.ErrTooLarge, limits.MaxFiles)
		}
		if e.Dir {
			return tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeDir, Name: e.Path + "/", Mode: 0o750, ModTime: epoch, Format: tar.FormatPAX,
			})
		}
		if e.Size > limits.MaxFileBytes {
			return fmt.Errorf("%w: file '%s' holds %d bytes, more than the %d a file may hold (--artifact-max-file-size)", artifact.ErrTooLarge, e.Path, e.Size, limits.MaxFileBytes)
		}
		if total += e.Size; total > limits.MaxBytes {
			return fmt.Errorf("%w: the files hold more than %d bytes (--artifact-max-unpacked-size)", artifact.ErrTooLarge, limits.MaxBytes)
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
		// The header says how much is written: a file that grew since is an error of the tar
		// writer, not a larger entry.
		_, err = io.Copy(tw, io.LimitReader(r, e.Size+1))
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
