package artifact

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits bound what an archive may hold, where one is made or opened.
type Limits struct {
	// MaxBytes is the most the uncompressed contents may total (default 1 GiB): disk, since
	// archives are streamed.
	MaxBytes int64
	// MaxFileBytes is the most one file may hold (default 16 MiB): what a reader of the files
	// (kustomize reads each one whole) holds in memory at once. A Kubernetes object is at most
	// 1.5 MiB; the bound leaves room for files of many, such as CRD bundles.
	MaxFileBytes int64
	// MaxFiles is the most entries the archive may hold (default 1,000,000).
	MaxFiles int
}

// Defaults of Limits.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultMaxFileBytes = 16 << 20
	DefaultMaxFiles     = 1_000_000
)

// WithDefaults fills the zero limits with their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	return l
}

// ErrUnsafe marks an archive refused for its contents.
var ErrUnsafe = errors.New("unsafe archive")

// ErrTooLarge marks an archive refused for its size.
var ErrTooLarge = errors.New("archive too large")

// ExtractTarGz extracts a gzip tar into dir, which must exist. Symbolic and hard links,
// devices and other special entries are refused, as are names that are absolute or leave dir.
func ExtractTarGz(r io.Reader, dir string, limits Limits) error {
	limits = limits.WithDefaults()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("reading gzip: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var total int64
	for files := 0; ; files++ {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if files >= limits.MaxFiles {
			return fmt.Errorf("%w: more than %d entries", ErrTooLarge, limits.MaxFiles)
		}
		target, err := safeJoin(dir, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if h.Size < 0 || h.Size > limits.MaxFileBytes {
				return fmt.Errorf("%w: file '%s' holds %d bytes, more than the %d a file may hold", ErrTooLarge, h.Name, h.Size, limits.MaxFileBytes)
			}
			if total+h.Size > limits.MaxBytes {
				return fmt.Errorf("%w: contents exceed %d bytes", ErrTooLarge, limits.MaxBytes)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			n, err := writeFile(target, tr, h.FileInfo().Mode().Perm()|0o600, min(limits.MaxBytes-total, limits.MaxFileBytes))
			total += n
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: entry '%s' is not a regular file or directory", ErrUnsafe, h.Name)
		}
	}
}

// writeFile copies at most max bytes; a longer entry (a header that lied about its size is
// caught by the tar reader, this is the second fence) is an error.
func writeFile(target string, r io.Reader, mode os.FileMode, max int64) (int64, error) {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.LimitReader(r, max+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > max {
		err = fmt.Errorf("%w: contents exceed the limit", ErrTooLarge)
	}
	return n, err
}

// safeJoin joins an archive entry name to dir, refusing names that are absolute or that
// leave dir.
func safeJoin(dir, name string) (string, error) {
	if name == "" || path.IsAbs(name) || filepath.IsAbs(name) || strings.Contains(name, `\`) {
		return "", fmt.Errorf("%w: entry name '%s'", ErrUnsafe, name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: entry '%s' leaves the extraction directory", ErrUnsafe, name)
	}
	return filepath.Join(dir, filepath.FromSlash(clean)), nil
}
