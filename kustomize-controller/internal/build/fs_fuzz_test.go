package build

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzConfinedFS checks that no path, however written (relative, absolute, through links
// inside the root, links out of it, '..'), reads or lists anything outside the artifact root.
func FuzzConfinedFS(f *testing.F) {
	for _, p := range []string{"a/cm.yaml", "in/cm.yaml", "out", "up/outside.txt", "../outside.txt", "abs/passwd", "a/../../outside.txt", "/etc/passwd", "up", "*", "up/*", "in/../../outside.txt", ""} {
		f.Add(p)
	}
	parent := f.TempDir()
	root := filepath.Join(parent, "root")
	for _, err := range []error{
		os.MkdirAll(filepath.Join(root, "a"), 0o755),
		os.WriteFile(filepath.Join(root, "a", "cm.yaml"), []byte("inside"), 0o644),
		os.WriteFile(filepath.Join(parent, "outside.txt"), []byte("OUTSIDE"), 0o644),
		os.Symlink("a", filepath.Join(root, "in")),
		os.Symlink("../outside.txt", filepath.Join(root, "out")),
		os.Symlink("..", filepath.Join(root, "up")),
		os.Symlink("/etc", filepath.Join(root, "abs")),
	} {
		if err != nil {
			f.Fatal(err)
		}
	}
	fsys, err := newConfinedFS(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		for _, path := range []string{p, filepath.Join(root, p)} {
			if data, err := fsys.ReadFile(path); err == nil && !strings.Contains(string(data), "inside") {
				t.Fatalf("ReadFile(%q) read %q, from outside the root", path, data)
			}
			if file, err := fsys.Open(path); err == nil {
				data, _ := io.ReadAll(io.LimitReader(file, 1<<10))
				file.Close()
				if strings.Contains(string(data), "OUTSIDE") || strings.Contains(string(data), "root:") {
					t.Fatalf("Open(%q) read from outside the root", path)
				}
			}
			if names, err := fsys.ReadDir(path); err == nil && (slices.Contains(names, "outside.txt") || slices.Contains(names, "passwd")) {
				t.Fatalf("ReadDir(%q) = %v, outside the root", path, names)
			}
			matches, _ := fsys.Glob(path)
			for _, m := range matches {
				if real, err := filepath.EvalSymlinks(m); err == nil && real != fsys.root && !strings.HasPrefix(real, fsys.root+string(os.PathSeparator)) {
					t.Fatalf("Glob(%q) found %q, outside the root", path, m)
				}
			}
		}
	})
}
