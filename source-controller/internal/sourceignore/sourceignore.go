package sourceignore

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// FileName is the name of the ignore files read from the tree.
const FileName = ".sourceignore"

// alwaysExcluded never enter an artifact: no pattern of spec.ignore or of a .sourceignore
// file can include them again (a '.git' directory can hold credentials).
const alwaysExcluded = ".git/\n.gitignore\n.gitmodules\n.gitattributes\n"

// DefaultPatterns are excluded unless spec.ignore replaces them.
const DefaultPatterns = `# images
*.jpg
*.jpeg
*.gif
*.png
*.wmv
*.flv
*.tar.gz
*.zip
# CI configuration
.github/
.circleci/
.travis.yml
.gitlab-ci.yml
appveyor.yml
.drone.yml
cloudbuild.yaml
codeship-services.yml
codeship-steps.yml
# flux and sops configuration
**/.goreleaser.yml
**/.sops.yaml
**/.flux.yaml
`

// Parse reads gitignore-style patterns, one per line, that apply below domain.
func Parse(text string, domain []string) []gitignore.Pattern {
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}

// Matcher decides exclusion for the tree rooted at a directory.
type Matcher struct {
	always, m gitignore.Matcher
}

// NewMatcher builds the rules for the directory root: the always-excluded files, then
// specIgnore (or Flux's defaults when nil), then every .sourceignore file found under root.
func NewMatcher(root string, specIgnore *string) (*Matcher, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != FileName || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		if rel == "." {
			rel = ""
		}
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	return NewMatcherFromFiles(specIgnore, files), nil
}

// NewMatcherFromFiles builds the rules from .sourceignore contents keyed by the slash-separated
// directory that holds each ("" for the root), for trees that are not on disk.
func NewMatcherFromFiles(specIgnore *string, files map[string][]byte) *Matcher {
	var ps []gitignore.Pattern
	if specIgnore != nil {
		ps = Parse(*specIgnore, nil)
	} else {
		ps = Parse(DefaultPatterns, nil)
	}
	dirs := make([]string, 0, len(files))
	for dir := range files {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs) // outer directories first, as a walk finds them
	for _, dir := range dirs {
		var domain []string
		if dir != "" {
			domain = strings.Split(dir, "/")
		}
		ps = append(ps, Parse(string(files[dir]), domain)...)
	}
	return &Matcher{always: gitignore.NewMatcher(Parse(alwaysExcluded, nil)), m: gitignore.NewMatcher(ps)}
}

// Excluded reports whether the slash-separated relative path is excluded.
func (m *Matcher) Excluded(path string, isDir bool) bool {
	segments := strings.Split(path, "/")
	return m.always.Match(segments, isDir) || m.m.Match(segments, isDir)
}
