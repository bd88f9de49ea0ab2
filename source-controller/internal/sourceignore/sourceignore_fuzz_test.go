package sourceignore

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMatcher checks, for any spec.ignore, any .sourceignore text and any path: that the
// patterns of a .sourceignore file decide nothing outside its directory, and that a .git
// directory and everything in it is excluded whatever the patterns say.
func FuzzMatcher(f *testing.F) {
	f.Add("*.md\n", "*.secret\n!keep.secret\n", "apps/db.secret", false)
	f.Add("!.git/\n", "/**\n", "sub", true)
	f.Add("", "!*\n**/x\n", "x/sub/y", false)
	f.Add("/docs/\n# comment\n\\#x\n", "../*\n", "docs", true)
	f.Fuzz(func(t *testing.T, spec, nested, path string, isDir bool) {
		if !utf8.ValidString(path) || path == "" || strings.HasPrefix(path, "/") || strings.Contains(path, "//") {
			return // the tree walks give clean relative paths
		}
		without := NewMatcherFromFiles(&spec, nil)
		with := NewMatcherFromFiles(&spec, map[string][]byte{"sub": []byte(nested)})
		if path != "sub" && !strings.HasPrefix(path, "sub/") {
			if a, b := without.Excluded(path, isDir), with.Excluded(path, isDir); a != b {
				t.Fatalf("sub/.sourceignore %q decides %q outside its directory: %v, without it %v", nested, path, b, a)
			}
		}
		for _, p := range []string{".git", path + "/.git", ".git/" + path, path + "/.git/config"} {
			dir := p == ".git" || strings.HasSuffix(p, "/.git")
			if !with.Excluded(p, dir) {
				t.Fatalf("%q included by spec.ignore %q and .sourceignore %q", p, spec, nested)
			}
		}
	})
}
