package helm

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/driftless-dev/driftless/source-controller/internal/helm/helmtest"
)

func TestSelectVersionAsHelm(t *testing.T) {
	versions := []ChartVersion{{Version: "1.0.0"}, {Version: "1.2.0"}, {Version: "1.10.0"}, {Version: "2.0.0-rc.1"}, {Version: "not-semver"}, {Version: "1.3.0"}}
	for constraint, want := range map[string]string{
		"":             "1.10.0",
		"*":            "1.10.0",
		"~1.2":         "1.2.0",
		"<1.5":         "1.3.0",
		">=2.0.0-0":    "2.0.0-rc.1",
		"1.0.0":        "1.0.0",
		">=1.0.0 <1.3": "1.2.0",
	} {
		got, err := SelectVersion(versions, constraint)
		if err != nil || got.Version != want {
			t.Errorf("SelectVersion(%q) = %s, %v; want %s", constraint, got.Version, err, want)
		}
	}
	if _, err := SelectVersion(versions, ">=3"); !errors.Is(err, ErrNoMatch) {
		t.Errorf(">=3: %v", err)
	}
	if _, err := SelectVersion(versions, "not a range"); !errors.Is(err, ErrInvalidVersion) {
		t.Errorf("not a range: %v", err)
	}
}

func TestCheckChartRefusesHostileArchives(t *testing.T) {
	good := map[string]string{"podinfo/Chart.yaml": "apiVersion: v2\nname: podinfo\nversion: 6.9.1\n", "podinfo/values.yaml": "replicas: 1\n"}
	meta, err := CheckChart(bytes.NewReader(helmtest.ChartArchive(t, good)))
	if err != nil || meta.Name != "podinfo" || meta.Version != "6.9.1" {
		t.Fatalf("a good chart: %+v, %v", meta, err)
	}
	for name, files := range map[string]map[string]string{
		"absolute":      {"/etc/passwd": "x", "podinfo/Chart.yaml": good["podinfo/Chart.yaml"]},
		"dot dot":       {"podinfo/../../evil": "x", "podinfo/Chart.yaml": good["podinfo/Chart.yaml"]},
		"symlink":       {"podinfo/Chart.yaml": good["podinfo/Chart.yaml"], "podinfo/link": "->/etc/passwd"},
		"two tops":      {"podinfo/Chart.yaml": good["podinfo/Chart.yaml"], "other/x": "x"},
		"no Chart.yaml": {"podinfo/values.yaml": "x"},
		"bad yaml":      {"podinfo/Chart.yaml": "name: [podinfo\n"},
		"no version":    {"podinfo/Chart.yaml": "name: podinfo\n"},
		"not semver":    {"podinfo/Chart.yaml": "name: podinfo\nversion: latest\n"},
		"big file":      {"podinfo/Chart.yaml": good["podinfo/Chart.yaml"], "podinfo/big": strings.Repeat("x", maxChartFile+1)},
	} {
		if _, err := CheckChart(bytes.NewReader(helmtest.ChartArchive(t, files))); !errors.Is(err, ErrInvalidChart) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := CheckChart(strings.NewReader("not gzip")); !errors.Is(err, ErrInvalidChart) {
		t.Errorf("not gzip: %v", err)
	}
}

func TestMergeValuesAsHelm(t *testing.T) {
	archive := helmtest.ChartArchive(t, map[string]string{
		"app/Chart.yaml":       "apiVersion: v2\nname: app\nversion: 1.0.0\n",
		"app/values.yaml":      "replicas: 1\nimage: {repository: app, tag: v1}\nports: [80]\n",
		"app/values-prod.yaml": "replicas: 3\nimage: {tag: v2}\n",
		"app/ci/extra.yaml":    "ports: [443]\nextra: true\n",
	}, "app/Chart.yaml", "app/values.yaml", "app/values-prod.yaml", "app/ci/extra.yaml")
	var out bytes.Buffer
	used, err := MergeValues(bytes.NewReader(archive), &out, []string{"values.yaml", "./values-prod.yaml", "ci/extra.yaml", "missing.yaml"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(used, ",") != "values.yaml,./values-prod.yaml,ci/extra.yaml" {
		t.Errorf("used %v", used)
	}
	meta, err := CheckChart(bytes.NewReader(out.Bytes()))
	if err != nil || meta.Version != "1.0.0" {
		t.Fatalf("the repackaged chart: %+v, %v", meta, err)
	}
	files := helmtest.Files(t, out.Bytes())
	want := "extra: true\nimage:\n  repository: app\n  tag: v2\nports:\n- 443\nreplicas: 3\n"
	if files["app/values.yaml"] != want {
		t.Errorf("values.yaml:\n%s\nwant:\n%s", files["app/values.yaml"], want)
	}
	if _, err := MergeValues(bytes.NewReader(archive), &out, []string{"missing.yaml"}, false); !errors.Is(err, ErrMissingValuesFile) {
		t.Errorf("a missing file: %v", err)
	}
}
