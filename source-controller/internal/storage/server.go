package storage

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Handler serves the storage root read-only: files only, no directory listings, nothing
// outside the root (symlinks inside the root, such as latest.tar.gz, are followed only when
// they stay inside it), and nothing hidden: the '.tmp-*' files that artifacts are written to
// before they appear whole, or anything else whose name starts with a dot.
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
		if err != nil || hidden(clean) || hidden(strings.TrimPrefix(resolved, s.Root)) {
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

// hidden reports whether a segment of the slash- or separator-separated path p starts with a
// dot.
func hidden(p string) bool {
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == os.PathSeparator }) {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}
