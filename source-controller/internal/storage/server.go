package storage

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Handler serves the storage root read-only: files only, no directory listings, and nothing
// outside the root (symlinks inside the root, such as latest.tar.gz, are followed only when
// they stay inside it).
func (s *Storage) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		clean := path.Clean("/" + r.URL.Path)
		p, err := s.join(clean)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		resolved, err := resolveInside(s.Root, p)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(resolved)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil || !info.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(resolved, ".tar.gz") || strings.HasSuffix(resolved, ".tgz") {
			w.Header().Set("Content-Type", "application/gzip")
		}
		http.ServeContent(w, r, info.Name(), info.ModTime(), f)
	})
}

// resolveInside follows symlinks of p and fails when the result leaves root.
func resolveInside(root, p string) (string, error) {
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	if resolved != root && !strings.HasPrefix(resolved, root+string(os.PathSeparator)) {
		return "", os.ErrNotExist
	}
	return resolved, nil
}
