package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

type tarEntry struct {
	name     string
	typeflag byte
	body     string
	size     int64 // when >0, overrides len(body) in the header
	linkname string
}

func makeTarGz(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	data, err := tarGz(entries)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func tarGz(entries []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: 0o644, Linkname: e.linkname}
		if e.typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func TestExtractTarGz(t *testing.T) {
	dir := t.TempDir()
	data := makeTarGz(t, []tarEntry{
		{name: "apps/", typeflag: tar.TypeDir},
		{name: "apps/a.yaml", typeflag: tar.TypeReg, body: "a"},
		{name: "./b.yaml", typeflag: tar.TypeReg, body: "b"},
		{name: "deep/er/c.yaml", typeflag: tar.TypeReg, body: "c"},
	})
	if err := ExtractTarGz(bytes.NewReader(data), dir, Limits{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"apps/a.yaml": "a", "b.yaml": "b", "deep/er/c.yaml": "c"} {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", p, got, err)
		}
	}
}

func TestExtractRefusesUnsafeArchives(t *testing.T) {
	tests := []struct {
		name    string
		entries []tarEntry
		want    error
	}{
		{"absolute path", []tarEntry{{name: "/etc/cron.d/x", typeflag: tar.TypeReg, body: "x"}}, ErrUnsafe},
		{"dot-dot", []tarEntry{{name: "../../outside", typeflag: tar.TypeReg, body: "x"}}, ErrUnsafe},
		{"dot-dot inside", []tarEntry{{name: "a/../../outside", typeflag: tar.TypeReg, body: "x"}}, ErrUnsafe},
		{"symlink out", []tarEntry{{name: "link", typeflag: tar.TypeSymlink, linkname: "/etc"}}, ErrUnsafe},
		{"symlink in", []tarEntry{{name: "link", typeflag: tar.TypeSymlink, linkname: "a"}}, ErrUnsafe},
		{"hardlink", []tarEntry{{name: "hard", typeflag: tar.TypeLink, linkname: "/etc/passwd"}}, ErrUnsafe},
		{"device", []tarEntry{{name: "dev", typeflag: tar.TypeChar}}, ErrUnsafe},
		{"backslash", []tarEntry{{name: `..\..\x`, typeflag: tar.TypeReg, body: "x"}}, ErrUnsafe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "root")
			_ = os.Mkdir(dir, 0o755)
			err := ExtractTarGz(bytes.NewReader(makeTarGz(t, tt.entries)), dir, Limits{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(parent, "outside")); err == nil {
				t.Fatal("a file was written outside the extraction directory")
			}
		})
	}
}

func TestExtractRefusesZipBombBeforeWritingIt(t *testing.T) {
	// 64 MiB of zeros compresses to ~64 KiB; the limit is 1 MiB.
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	const size = 64 << 20
	_ = tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Size: size, Mode: 0o644})
	zeros := make([]byte, 1<<20)
	for range size / len(zeros) {
		_, _ = tw.Write(zeros)
	}
	tw.Close()
	gz.Close()
	if buf.Len() > 1<<20 {
		t.Fatalf("test archive is not a bomb: %d bytes", buf.Len())
	}
	dir := t.TempDir()
	err := ExtractTarGz(bytes.NewReader(buf.Bytes()), dir, Limits{MaxBytes: 1 << 20})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bomb")); err == nil {
		t.Fatal("the oversized entry was written")
	}
}

func TestExtractCountsAcrossFiles(t *testing.T) {
	entries := []tarEntry{}
	for _, n := range []string{"a", "b", "c"} {
		entries = append(entries, tarEntry{name: n, typeflag: tar.TypeReg, body: strings.Repeat("x", 400)})
	}
	err := ExtractTarGz(bytes.NewReader(makeTarGz(t, entries)), t.TempDir(), Limits{MaxBytes: 1000})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge across files", err)
	}
	err = ExtractTarGz(bytes.NewReader(makeTarGz(t, entries)), t.TempDir(), Limits{MaxFiles: 2})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge for the file count", err)
	}
}

// A file larger than MaxFileBytes is refused by name, while the archive as a whole is within
// MaxBytes: no reader of the tree has to hold a file that large.
func TestExtractRefusesAFileTooLargeToRead(t *testing.T) {
	data := makeTarGz(t, []tarEntry{
		{name: "small.yaml", typeflag: tar.TypeReg, body: strings.Repeat("a", 1000)},
		{name: "huge.yaml", typeflag: tar.TypeReg, body: strings.Repeat("b", 2<<20)},
	})
	dir := t.TempDir()
	err := ExtractTarGz(bytes.NewReader(data), dir, Limits{MaxBytes: 64 << 20, MaxFileBytes: 1 << 20})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "file 'huge.yaml' holds 2097152 bytes") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "huge.yaml")); !os.IsNotExist(err) {
		t.Error("the oversized file was written")
	}
	// The same archive within the limits extracts.
	if err := ExtractTarGz(bytes.NewReader(data), t.TempDir(), Limits{MaxFileBytes: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	if got := (Limits{}).WithDefaults(); got.MaxFileBytes != 16<<20 || got.MaxBytes != 1<<30 {
		t.Errorf("defaults = %+v", got)
	}
}

func TestLimitFlags(t *testing.T) {
	var l Limits
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	l.BindFlags(fs)
	if l.MaxFileBytes != DefaultMaxFileBytes || fs.Lookup("artifact-max-file-size").DefValue != "16Mi" {
		t.Fatalf("defaults: %+v, %q", l, fs.Lookup("artifact-max-file-size").DefValue)
	}
	if err := fs.Parse([]string{"--artifact-max-file-size=4Mi", "--artifact-max-unpacked-size=2Gi"}); err != nil {
		t.Fatal(err)
	}
	if l.MaxFileBytes != 4<<20 || l.MaxBytes != 2<<30 {
		t.Fatalf("parsed: %+v", l)
	}
	for _, bad := range []string{"--artifact-max-file-size=big", "--artifact-max-file-size=0"} {
		if err := fs.Parse([]string{bad}); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}
