package helm

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"sigs.k8s.io/yaml"
)

// ErrMissingValuesFile marks a values file the chart does not have.
var ErrMissingValuesFile = errors.New("values file not found in the chart")

// MergeValues repackages a checked chart archive with its values.yaml replaced by the chart's
// values.yaml and then each of files (paths in the chart) merged over it in order, as Helm
// merges -f files: maps key by key, anything else replaced. A file the chart lacks is an
// error, or skipped when ignoreMissing. It returns the files merged.
func MergeValues(src io.Reader, dst io.Writer, files []string, ignoreMissing bool) ([]string, error) {
	gz, err := gzip.NewReader(src)
	if err != nil {
		return nil, fmt.Errorf("%w: not gzip: %v", ErrInvalidChart, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	type entry struct {
		h    *tar.Header
		data []byte
	}
	var entries []entry
	top := ""
	contents := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidChart, err)
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxChartFile+1))
		if err != nil {
			return nil, err
		}
		if len(data) > maxChartFile {
			return nil, fmt.Errorf("%w: file '%s' is over %d bytes", ErrInvalidChart, h.Name, maxChartFile)
		}
		clean := path.Clean(h.Name)
		dir, rest, _ := strings.Cut(clean, "/")
		if top == "" {
			top = dir
		}
		if h.Typeflag == tar.TypeReg {
			contents[rest] = data
		}
		entries = append(entries, entry{h, data})
	}
	merged := map[string]any{}
	if base, ok := contents["values.yaml"]; ok {
		if err := yaml.Unmarshal(base, &merged); err != nil {
			return nil, fmt.Errorf("the chart's values.yaml does not parse: %v", err)
		}
		if merged == nil {
			merged = map[string]any{}
		}
	}
	var used []string
	for _, f := range files {
		name := path.Clean(strings.TrimPrefix(f, "./"))
		if name == "values.yaml" {
			used = append(used, f)
			continue // already the base
		}
		data, ok := contents[name]
		if !ok {
			if ignoreMissing {
				continue
			}
			return nil, fmt.Errorf("%w: '%s'", ErrMissingValuesFile, f)
		}
		var over map[string]any
		if err := yaml.Unmarshal(data, &over); err != nil {
			return nil, fmt.Errorf("values file '%s' does not parse: %v", f, err)
		}
		merged = mergeMaps(merged, over)
		used = append(used, f)
	}
	values, err := yaml.Marshal(merged)
	if err != nil {
		return nil, err
	}
	out := gzip.NewWriter(dst)
	tw := tar.NewWriter(out)
	wrote := false
	for _, e := range entries {
		h, data := *e.h, e.data
		if _, rest, _ := strings.Cut(path.Clean(h.Name), "/"); rest == "values.yaml" && h.Typeflag == tar.TypeReg {
			data, wrote = values, true
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if !wrote {
		h := &tar.Header{Name: top + "/values.yaml", Mode: 0o644, Size: int64(len(values)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(values); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return used, out.Close()
}

// mergeMaps merges over into base: maps key by key, other values replaced.
func mergeMaps(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeMaps(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}
