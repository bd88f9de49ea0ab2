package helm

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"
)

// Limits of a chart archive, as Helm's own loader sets them.
const (
	// MaxChartBytes bounds a chart archive as downloaded.
	MaxChartBytes = 100 << 20
	// maxChartContents bounds its uncompressed contents.
	maxChartContents = 100 << 20
	// maxChartFile bounds one file in it.
	maxChartFile = 5 << 20
	// maxChartEntries bounds its entries.
	maxChartEntries = 50_000
)

// ErrInvalidVersion marks a version constraint that does not parse.
var ErrInvalidVersion = errors.New("invalid version constraint")

// ErrNoMatch marks a constraint that no version of the chart meets.
var ErrNoMatch = errors.New("no chart version matches")

// SelectVersion returns the highest version meeting constraint ('*' or empty: any release).
// Prereleases are considered only when the constraint names one, as Helm does; versions
// that are not semver are skipped.
func SelectVersion(versions []ChartVersion, constraint string) (ChartVersion, error) {
	if constraint == "" {
		constraint = "*"
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return ChartVersion{}, fmt.Errorf("%w '%s': %v", ErrInvalidVersion, constraint, err)
	}
	var best *semver.Version
	var picked ChartVersion
	for _, v := range versions {
		sv, err := semver.NewVersion(v.Version)
		if err != nil || !c.Check(sv) {
			continue
		}
		if best == nil || sv.GreaterThan(best) {
			best, picked = sv, v
		}
	}
	if best == nil {
		return ChartVersion{}, fmt.Errorf("%w '%s'", ErrNoMatch, constraint)
	}
	return picked, nil
}

// ChartMetadata is what a chart's Chart.yaml says of it.
type ChartMetadata struct {
	APIVersion string `json:"apiVersion"`
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
}

// ErrInvalidChart marks an archive that is not a chart, or not a safe one.
var ErrInvalidChart = errors.New("invalid chart archive")

// CheckChart reads a chart archive as untrusted input: a gzip tar whose entries are regular
// files and directories under one top directory, none absolute, none leaving it, within
// Helm's size limits, with a Chart.yaml that parses. It returns the chart's metadata.
func CheckChart(r io.Reader) (*ChartMetadata, error) {
	gz, err := gzip.NewReader(io.LimitReader(r, MaxChartBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: not gzip: %v", ErrInvalidChart, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var total int64
	top := ""
	var meta *ChartMetadata
	for entries := 0; ; entries++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidChart, err)
		}
		if entries >= maxChartEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrInvalidChart, maxChartEntries)
		}
		name := h.Name
		if strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
			return nil, fmt.Errorf("%w: entry '%s' is an absolute path", ErrInvalidChart, name)
		}
		clean := path.Clean(name)
		if clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(name, "/../") || strings.HasSuffix(name, "/..") {
			return nil, fmt.Errorf("%w: entry '%s' leaves the chart", ErrInvalidChart, name)
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir:
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		default:
			return nil, fmt.Errorf("%w: entry '%s' is a link or a special file", ErrInvalidChart, name)
		}
		dir, rest, _ := strings.Cut(clean, "/")
		if top == "" {
			top = dir
		} else if dir != top {
			return nil, fmt.Errorf("%w: entries under both '%s' and '%s'", ErrInvalidChart, top, dir)
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if h.Size > maxChartFile {
			return nil, fmt.Errorf("%w: file '%s' is over %d bytes", ErrInvalidChart, name, maxChartFile)
		}
		total += h.Size
		if total > maxChartContents {
			return nil, fmt.Errorf("%w: contents over %d bytes", ErrInvalidChart, maxChartContents)
		}
		if rest != "Chart.yaml" {
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidChart, err)
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxChartFile))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidChart, err)
		}
		meta = &ChartMetadata{}
		if err := yaml.Unmarshal(data, meta); err != nil {
			return nil, fmt.Errorf("%w: Chart.yaml does not parse: %v", ErrInvalidChart, err)
		}
	}
	if meta == nil {
		return nil, fmt.Errorf("%w: no Chart.yaml", ErrInvalidChart)
	}
	if meta.Name == "" || meta.Version == "" {
		return nil, fmt.Errorf("%w: Chart.yaml has no name or version", ErrInvalidChart)
	}
	if _, err := semver.NewVersion(meta.Version); err != nil {
		return nil, fmt.Errorf("%w: Chart.yaml's version '%s' is not semver", ErrInvalidChart, meta.Version)
	}
	return meta, nil
}
