package helm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/driftless-dev/driftless/source-controller/internal/helm/helmtest"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPackageDirAsHelm(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"charts/app/Chart.yaml":                 "apiVersion: v2\nname: app\nversion: 1.2.0\ndependencies:\n- name: lib\n  version: 0.1.0\n  repository: file://../lib\n- name: vendored\n  version: 1.0.0\n  repository: https://charts.example.com\n",
		"charts/app/values.yaml":                "replicas: 1\n",
		"charts/app/templates/config.yaml":      "kind: ConfigMap\n",
		"charts/app/.helmignore":                "# comment\n*.bak\nscratch/\n",
		"charts/app/notes.bak":                  "ignored",
		"charts/app/scratch/x":                  "ignored",
		"charts/app/charts/vendored/Chart.yaml": "apiVersion: v2\nname: vendored\nversion: 1.0.0\n",
		"charts/lib/Chart.yaml":                 "apiVersion: v2\nname: lib\nversion: 0.1.0\n",
		"charts/lib/templates/_helpers.tpl":     "{{- define \"lib.name\" -}}lib{{- end -}}\n",
	})
	var out bytes.Buffer
	meta, err := PackageDir(root, filepath.Join(root, "charts/app"), &out, PackageOptions{Build: "abcdef123456"})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Name != "app" || meta.Version != "1.2.0+abcdef123456" {
		t.Errorf("meta %+v", meta)
	}
	files := helmtest.Files(t, out.Bytes())
	for _, want := range []string{"app/Chart.yaml", "app/values.yaml", "app/templates/config.yaml", "app/charts/vendored/Chart.yaml", "app/charts/lib-0.1.0.tgz"} {
		if _, ok := files[want]; !ok {
			t.Errorf("no %s in %v", want, keys(files))
		}
	}
	for _, unwanted := range []string{"app/notes.bak", "app/scratch/x", "app/.helmignore"} {
		if _, ok := files[unwanted]; ok {
			t.Errorf("%s was packaged", unwanted)
		}
	}
	if checked, err := CheckChart(bytes.NewReader(out.Bytes())); err != nil || checked.Version != "1.2.0+abcdef123456" {
		t.Errorf("the package does not check: %+v, %v", checked, err)
	}

	writeTree(t, root, map[string]string{
		"charts/escape/Chart.yaml": "apiVersion: v2\nname: escape\nversion: 1.0.0\ndependencies:\n- name: outside\n  repository: file://../../../outside\n",
		"charts/remote/Chart.yaml": "apiVersion: v2\nname: remote\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.x\n  repository: https://charts.example.com\n",
		"charts/linked/Chart.yaml": "apiVersion: v2\nname: linked\nversion: 1.0.0\n",
	})
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "charts/linked/passwd")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(root), "outside")
	writeTree(t, outside, map[string]string{"Chart.yaml": "apiVersion: v2\nname: outside\nversion: 1.0.0\n"})
	for dir, want := range map[string]error{
		"charts/escape":  ErrInvalidChart,
		"charts/remote":  ErrUnresolvedDependency,
		"charts/linked":  ErrInvalidChart,
		"charts/missing": ErrInvalidChart,
		"..":             ErrInvalidChart,
	} {
		if _, err := PackageDir(root, filepath.Join(root, dir), &bytes.Buffer{}, PackageOptions{}); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", dir, err, want)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Dependencies from a repository come from the resolver, at the version Chart.lock pins; a
// v1 chart's requirements.yaml is read; what the resolver returns is checked as untrusted.
func TestPackageDirRemoteDependencies(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"app/Chart.yaml":        "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.x\n  repository: https://charts.example.com/\n  alias: cache\n",
		"app/Chart.lock":        "dependencies:\n- name: redis\n  repository: https://charts.example.com\n  version: 1.2.0\ndigest: sha256:0\n",
		"old/Chart.yaml":        "apiVersion: v1\nname: old\nversion: 0.1.0\n",
		"old/requirements.yaml": "dependencies:\n- name: redis\n  version: '>=1.0.0'\n  repository: https://charts.example.com\n",
	})
	archives := map[string][]byte{
		"redis": helmtest.ChartArchive(t, map[string]string{"redis/Chart.yaml": "apiVersion: v2\nname: redis\nversion: 1.2.0\n"}),
		"wrong": helmtest.ChartArchive(t, map[string]string{"other/Chart.yaml": "apiVersion: v2\nname: other\nversion: 1.2.0\n"}),
		"bad":   []byte("not a chart"),
	}
	var asked []Dependency
	serve := func(name string) func(Dependency) (string, error) {
		return func(d Dependency) (string, error) {
			asked = append(asked, d)
			p := filepath.Join(t.TempDir(), "dep.tgz")
			return p, os.WriteFile(p, archives[name], 0o644)
		}
	}
	var out bytes.Buffer
	if _, err := PackageDir(root, filepath.Join(root, "app"), &out, PackageOptions{Remote: serve("redis")}); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0].Locked != "1.2.0" || asked[0].Version != "1.x" || asked[0].Alias != "cache" {
		t.Errorf("asked for %+v", asked)
	}
	if files := helmtest.Files(t, out.Bytes()); files["app/charts/redis-1.2.0.tgz"] == "" {
		t.Errorf("the dependency is not packaged: %v", keys(files))
	}
	asked = nil
	out.Reset()
	if _, err := PackageDir(root, filepath.Join(root, "old"), &out, PackageOptions{Remote: serve("redis")}); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0].Locked != "" || asked[0].Version != ">=1.0.0" {
		t.Errorf("a v1 chart asked for %+v", asked)
	}
	if _, err := PackageDir(root, filepath.Join(root, "app"), &bytes.Buffer{}, PackageOptions{Remote: serve("wrong")}); !errors.Is(err, ErrUnresolvedDependency) {
		t.Errorf("another chart than the dependency: %v", err)
	}
	if _, err := PackageDir(root, filepath.Join(root, "app"), &bytes.Buffer{}, PackageOptions{Remote: serve("bad")}); !errors.Is(err, ErrInvalidChart) {
		t.Errorf("not a chart: %v", err)
	}
}
