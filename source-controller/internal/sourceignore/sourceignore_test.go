package sourceignore

import (
	"os"
	"path/filepath"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestMatcher(t *testing.T) {
	root := writeTree(t, map[string]string{
		"apps/.sourceignore": "*.secret\n!keep.secret\n",
		".sourceignore":      "/docs/\n",
	})
	custom := "*.md\n"
	negated := "!.git/\n!.git\n!config\n"
	tests := []struct {
		name   string
		ignore *string
		path   string
		isDir  bool
		want   bool
	}{
		{"git dir always", nil, ".git", true, true},
		{"gitmodules always", &custom, ".gitmodules", false, true},
		{"default image", nil, "static/logo.png", false, true},
		{"default ci", nil, ".github", true, true},
		{"default sops anywhere", nil, "apps/prod/.sops.yaml", false, true},
		{"yaml kept", nil, "apps/prod/deploy.yaml", false, false},
		{"spec.ignore replaces defaults", &custom, "static/logo.png", false, false},
		{"spec.ignore applies", &custom, "README.md", false, true},
		{"sourceignore scoped to its dir", nil, "apps/db.secret", false, true},
		{"sourceignore not outside its dir", nil, "db.secret", false, false},
		{"sourceignore negation", nil, "apps/keep.secret", false, false},
		{"root sourceignore anchored", nil, "docs", true, true},
		{"root sourceignore anchored only at root", nil, "apps/docs", true, false},
		{"git dir cannot be included again", &negated, ".git", true, true},
		{"nor what it holds", &negated, "apps/.git/config", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMatcher(root, tt.ignore)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Excluded(tt.path, tt.isDir); got != tt.want {
				t.Fatalf("Excluded(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}
