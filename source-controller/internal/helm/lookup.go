package helm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrChartNotFound marks a chart the index does not have.
var ErrChartNotFound = errors.New("chart not found in the repository index")

// WriteLookup scans the index into dir: one small file per chart with its versions, so that
// a lookup reads one chart, never the index. dir is replaced as a whole; it appears complete
// or not at all. It returns the number of charts.
func WriteLookup(dir string, index io.Reader) (int, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-lookup-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	seen := map[string]bool{}
	err = Scan(index, func(name string, versions []ChartVersion) error {
		if seen[name] {
			return fmt.Errorf("the index names chart '%s' twice", name)
		}
		seen[name] = true
		data, err := json.Marshal(versions)
		if err != nil {
			return err
		}
		return os.WriteFile(chartFile(tmp, name), data, 0o644)
	})
	if err != nil {
		return 0, err
	}
	old := dir + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return 0, err
	}
	_ = os.RemoveAll(old)
	return len(seen), nil
}

// Lookup returns a chart's versions from a lookup directory.
func Lookup(dir, name string) ([]ChartVersion, error) {
	versions, err := readVersions(chartFile(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: '%s'", ErrChartNotFound, name)
	}
	return versions, err
}

func readVersions(file string) ([]ChartVersion, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var versions []ChartVersion
	if err := json.Unmarshal(data, &versions); err != nil {
		return nil, fmt.Errorf("the index lookup for a chart is corrupt: %v", err)
	}
	return versions, nil
}

// chartFile names a chart's file by a digest of its name: names come from the index, and
// must not choose paths.
func chartFile(dir, name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(dir, hex.EncodeToString(sum[:16])+".json")
}
