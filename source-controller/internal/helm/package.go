package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"
)

// chartYAML is a chart's Chart.yaml, with the fields packaging reads or rewrites.
type chartYAML struct {
	APIVersion   string       `json:"apiVersion"`
	Name         string       `json:"name"`
	Version      string       `json:"version"`
	Dependencies []Dependency `json:"dependencies,omitempty"`
}

// Dependency is one of a chart's dependencies, as Chart.yaml (or a v1 chart's
// requirements.yaml) declares it.
type Dependency struct {
	Name       string `json:"name"`
	Version    string `json:"version,omitempty"`
	Repository string `json:"repository,omitempty"`
	Alias      string `json:"alias,omitempty"`
	// Locked is the exact version Chart.lock (requirements.lock) pins for it, if any.
	Locked string `json:"-"`
}

// ErrUnresolvedDependency marks a dependency that is neither in charts/ nor a local path,
// and that no repository resolver could fetch.
var ErrUnresolvedDependency = errors.New("unresolved chart dependency")

// PackageOptions shape what PackageDir builds.
type PackageOptions struct {
	// Build is added to Chart.yaml's version as '+<build>' when not empty (Flux's
	// reconcileStrategy: Revision).
	Build string
	// Remote fetches a dependency that is neither in charts/ nor a 'file://' path, and returns
	// the path of its chart archive, which PackageDir checks as untrusted input. Without it
	// such a dependency is an ErrUnresolvedDependency.
	Remote func(Dependency) (string, error)
}

// PackageDir packages the chart in dir (inside root, which holds the whole source) as Helm
// does, into w: every file under '<name>/'. Dependencies in charts/ are kept; 'file://' paths
// inside root are packaged into charts/; the rest come from opts.Remote, at the version
// Chart.lock pins when it names them. Nothing outside root is read, links are not followed,
// .helmignore is honoured for the common patterns. It returns the chart's metadata.
func PackageDir(root, dir string, w io.Writer, opts PackageOptions) (*ChartMetadata, error) {
	return packageDir(root, dir, opts.Build, w, opts.Remote, 0)
}

func packageDir(root, dir, build string, w io.Writer, remote func(Dependency) (string, error), depth int) (*ChartMetadata, error) {
	if depth > 8 {
		return nil, fmt.Errorf("%w: local dependencies nested more than 8 deep", ErrUnresolvedDependency)
	}
	if err := inside(root, dir); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("%w: no Chart.yaml in '%s'", ErrInvalidChart, rel(root, dir))
	}
	if len(data) > maxChartFile {
		return nil, fmt.Errorf("%w: Chart.yaml is over %d bytes", ErrInvalidChart, maxChartFile)
	}
	var chart chartYAML
	if err := yaml.Unmarshal(data, &chart); err != nil {
		return nil, fmt.Errorf("%w: Chart.yaml of '%s' does not parse: %v", ErrInvalidChart, rel(root, dir), err)
	}
	if chart.Name == "" || chart.Version == "" {
		return nil, fmt.Errorf("%w: Chart.yaml of '%s' has no name or version", ErrInvalidChart, rel(root, dir))
	}
	if err := readDependencies(root, dir, &chart); err != nil {
		return nil, err
	}
	if build != "" {
		version, _, _ := strings.Cut(chart.Version, "+")
		version += "+" + build
		chart.Version = version
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, err
		}
		doc["version"] = version
		if data, err = yaml.Marshal(doc); err != nil {
			return nil, err
		}
	}
	if _, err := semver.NewVersion(chart.Version); err != nil {
		return nil, fmt.Errorf("%w: version '%s' of chart '%s' is not semver", ErrInvalidChart, chart.Version, chart.Name)
	}
	ignore := readHelmIgnore(dir)
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	var total int64
	files := 0
	vendored := map[string]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(dir, p)
		r = filepath.ToSlash(r)
		if r == "." {
			return nil
		}
		if ignore(r, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 || (!d.IsDir() && !d.Type().IsRegular()) {
			return fmt.Errorf("%w: '%s' is a link or a special file", ErrInvalidChart, rel(root, p))
		}
		if d.IsDir() {
			if strings.HasPrefix(r, "charts/") && strings.Count(r, "/") == 1 {
				vendored[path.Base(r)] = true
			}
			return nil
		}
		if strings.HasPrefix(r, "charts/") && strings.Count(r, "/") == 1 {
			vendored[path.Base(r)] = true
		}
		if files++; files > maxChartEntries {
			return fmt.Errorf("%w: more than %d files", ErrInvalidChart, maxChartEntries)
		}
		content, err := readCapped(p)
		if err != nil {
			return err
		}
		if r == "Chart.yaml" {
			content = data
		}
		if total += int64(len(content)); total > maxChartContents {
			return fmt.Errorf("%w: contents over %d bytes", ErrInvalidChart, maxChartContents)
		}
		return writeEntry(tw, chart.Name+"/"+r, content)
	})
	if err != nil {
		return nil, err
	}
	for _, dep := range chart.Dependencies {
		if hasVendored(vendored, dep) {
			continue
		}
		var content []byte
		if local, ok := strings.CutPrefix(dep.Repository, "file://"); ok {
			depDir := filepath.Join(dir, filepath.FromSlash(local))
			pr, pw := io.Pipe()
			go func() {
				_, err := packageDir(root, depDir, "", pw, remote, depth+1)
				pw.CloseWithError(err)
			}()
			if content, err = io.ReadAll(io.LimitReader(pr, MaxChartBytes+1)); err != nil {
				return nil, err
			}
		} else {
			if remote == nil || dep.Repository == "" {
				return nil, fmt.Errorf("%w: '%s' (repository '%s') is not in charts/: vendor it, or use a file:// path", ErrUnresolvedDependency, dep.Name, dep.Repository)
			}
			p, err := remote(dep)
			if err != nil {
				return nil, err
			}
			if content, err = readAtMost(p, MaxChartBytes, "a dependency's archive"); err != nil {
				return nil, err
			}
		}
		meta, err := CheckChart(bytes.NewReader(content))
		if err != nil {
			return nil, fmt.Errorf("dependency '%s': %w", dep.Name, err)
		}
		if meta.Name != dep.Name {
			return nil, fmt.Errorf("%w: dependency '%s' resolved to chart '%s'", ErrUnresolvedDependency, dep.Name, meta.Name)
		}
		if err := writeEntry(tw, chart.Name+"/charts/"+meta.Name+"-"+meta.Version+".tgz", content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return &ChartMetadata{APIVersion: chart.APIVersion, Name: chart.Name, Version: chart.Version}, nil
}

// readDependencies reads a v1 chart's requirements.yaml, and the versions Chart.lock
// (requirements.lock) pins.
func readDependencies(root, dir string, chart *chartYAML) error {
	lockName := "Chart.lock"
	if chart.APIVersion == "v1" {
		lockName = "requirements.lock"
		if data, err := readCapped(filepath.Join(dir, "requirements.yaml")); err == nil {
			var req struct {
				Dependencies []Dependency `json:"dependencies"`
			}
			if err := yaml.Unmarshal(data, &req); err != nil {
				return fmt.Errorf("%w: requirements.yaml of '%s' does not parse: %v", ErrInvalidChart, rel(root, dir), err)
			}
			chart.Dependencies = req.Dependencies
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	data, err := readCapped(filepath.Join(dir, lockName))
	if errors.Is(err, fs.ErrNotExist) || len(chart.Dependencies) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	var lock struct {
		Dependencies []Dependency `json:"dependencies"`
	}
	if err := yaml.Unmarshal(data, &lock); err != nil {
		return fmt.Errorf("%w: %s of '%s' does not parse: %v", ErrInvalidChart, lockName, rel(root, dir), err)
	}
	for i, d := range chart.Dependencies {
		for _, l := range lock.Dependencies {
			if l.Name == d.Name && NormalizeRepoURL(l.Repository) == NormalizeRepoURL(d.Repository) {
				chart.Dependencies[i].Locked = l.Version
			}
		}
	}
	return nil
}

// NormalizeRepoURL is a repository URL as Helm compares them: without a trailing slash.
func NormalizeRepoURL(u string) string {
	return strings.TrimRight(strings.TrimSpace(u), "/")
}

func hasVendored(vendored map[string]bool, dep Dependency) bool {
	if vendored[dep.Name] {
		return true
	}
	for name := range vendored {
		if strings.HasPrefix(name, dep.Name+"-") && strings.HasSuffix(name, ".tgz") {
			return true
		}
	}
	return false
}

func writeEntry(tw *tar.Writer, name string, content []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(content)
	return err
}

// readCapped reads one file of a chart directory: at most 5 MiB, as Helm allows.
func readCapped(p string) ([]byte, error) {
	return readAtMost(p, maxChartFile, "'"+filepath.Base(p)+"'")
}

// readAtMost reads the file at p, refusing it (ErrInvalidChart) when it is over max bytes;
// what names it in that message.
func readAtMost(p string, max int64, what string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrInvalidChart, what, max)
	}
	return data, nil
}

// inside refuses a directory that is not root or below it, links resolved.
func inside(root, dir string) error {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("%w: the chart path does not exist in the source", ErrInvalidChart)
	}
	if d != r && !strings.HasPrefix(d, r+string(os.PathSeparator)) {
		return fmt.Errorf("%w: the chart path leaves the source", ErrInvalidChart)
	}
	return nil
}

func rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return "."
	}
	return filepath.ToSlash(r)
}

// readHelmIgnore reads .helmignore's plain patterns (names, globs, 'dir/'); comments and
// blank lines skipped. The file itself and VCS directories are always left out.
func readHelmIgnore(dir string) func(rel string, isDir bool) bool {
	patterns := []string{".helmignore", ".git/"}
	if data, err := os.ReadFile(filepath.Join(dir, ".helmignore")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				patterns = append(patterns, line)
			}
		}
	}
	return func(rel string, isDir bool) bool {
		base := path.Base(rel)
		for _, p := range patterns {
			dirOnly := strings.HasSuffix(p, "/")
			p = strings.TrimSuffix(p, "/")
			if dirOnly && !isDir {
				continue
			}
			target := base
			if strings.Contains(p, "/") {
				target = rel
			}
			if ok, _ := path.Match(p, target); ok {
				return true
			}
		}
		return false
	}
}
