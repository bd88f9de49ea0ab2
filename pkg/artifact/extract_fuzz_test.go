package artifact

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzLimits keep each run small.
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxFileBytes: 64 << 10, MaxFiles: 64}

// FuzzExtractTarGz checks, for any bytes, that extraction writes only inside its directory,
// only regular files and directories, and no more than the limits allow; and that an archive
// it refuses or cannot read is an error, never a panic.
func FuzzExtractTarGz(f *testing.F) {
	for _, entries := range [][]tarEntry{
		{{name: "apps/", typeflag: tar.TypeDir}, {name: "apps/a.yaml", typeflag: tar.TypeReg, body: "a"}, {name: "./b.yaml", typeflag: tar.TypeReg, body: "b"}},
		{{name: "/etc/cron.d/x", typeflag: tar.TypeReg, body: "x"}},
		{{name: "a/../../outside", typeflag: tar.TypeReg, body: "x"}},
		{{name: "link", typeflag: tar.TypeSymlink, linkname: "/etc"}, {name: "link/passwd", typeflag: tar.TypeReg, body: "x"}},
		{{name: "hard", typeflag: tar.TypeLink, linkname: "../outside"}},
		{{name: `..\..\x`, typeflag: tar.TypeReg, body: "x"}},
		{{name: "big", typeflag: tar.TypeReg, body: strings.Repeat("x", 70<<10)}},
		{{name: "a", typeflag: tar.TypeReg, body: "file"}, {name: "a/b", typeflag: tar.TypeReg, body: "under a file"}},
	} {
		f.Add(makeTarGz(f, entries))
	}
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(checkExtraction)
}

// FuzzExtractEntries is FuzzExtractTarGz for well-formed archives of two entries, where the
// names, kinds and links that matter are found faster than through gzip's checksums.
func FuzzExtractEntries(f *testing.F) {
	f.Add("a/b.yaml", byte(tar.TypeReg), "", "a/c.yaml", byte(tar.TypeReg), "c")
	f.Add("link", byte(tar.TypeSymlink), "..", "link/x", byte(tar.TypeReg), "x")
	f.Add("a", byte(tar.TypeReg), "", "a/b", byte(tar.TypeDir), "")
	f.Add("./x/../../y", byte(tar.TypeReg), "", "z", byte(tar.TypeLink), "x")
	f.Fuzz(func(t *testing.T, name1 string, type1 byte, link1, name2 string, type2 byte, body string) {
		data, err := tarGz([]tarEntry{{name: name1, typeflag: type1, linkname: link1, body: body}, {name: name2, typeflag: type2, body: body}})
		if err != nil {
			return // not an archive tar can write
		}
		checkExtraction(t, data)
	})
}

// checkExtraction extracts data and checks what is on disk afterwards.
func checkExtraction(t *testing.T, data []byte) {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "root")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = ExtractTarGz(bytes.NewReader(data), dir, fuzzLimits)

	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Fatalf("extraction wrote beside its directory: %v", entries)
	}
	var total int64
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode().IsRegular():
			if info.Size() > fuzzLimits.MaxFileBytes {
				t.Errorf("%s holds %d bytes, more than a file may", p, info.Size())
			}
			total += info.Size()
			files++
		case info.IsDir():
			if p != dir {
				files++
			}
		default:
			t.Errorf("%s is neither a regular file nor a directory: %v", p, info.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > fuzzLimits.MaxBytes || files > fuzzLimits.MaxFiles {
		t.Fatalf("extracted %d bytes in %d entries, past the limits", total, files)
	}
}

// FuzzSafeJoin checks that no entry name joins to a path outside the directory.
func FuzzSafeJoin(f *testing.F) {
	for _, name := range []string{"a/b", "./a", "../x", "a/../../x", "/etc/passwd", `..\x`, "a/./../b", "..", ".", "a//b", "....//x"} {
		f.Add(name)
	}
	dir := filepath.Join(os.TempDir(), "root")
	f.Fuzz(func(t *testing.T, name string) {
		p, err := safeJoin(dir, name)
		if err != nil {
			return
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			t.Fatalf("safeJoin(%q, %q) = %q, outside the directory", dir, name, p)
		}
	})
}
