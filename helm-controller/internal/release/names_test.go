package release

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

func TestNames(t *testing.T) {
	hr := &v2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "podinfo"}}
	if Name(hr) != "podinfo" || TargetNamespace(hr) != "team" || StorageNamespace(hr) != "team" {
		t.Fatalf("defaults: %s %s %s", Name(hr), TargetNamespace(hr), StorageNamespace(hr))
	}
	hr.Spec.TargetNamespace, hr.Spec.StorageNamespace = "prod", "helm"
	if Name(hr) != "prod-podinfo" || TargetNamespace(hr) != "prod" || StorageNamespace(hr) != "helm" {
		t.Fatalf("with namespaces: %s %s %s", Name(hr), TargetNamespace(hr), StorageNamespace(hr))
	}
	hr.Spec.ReleaseName = "web"
	if Name(hr) != "web" {
		t.Fatalf("releaseName: %s", Name(hr))
	}
	hr.Spec.ReleaseName = strings.Repeat("a", 60)
	long := Name(hr)
	if len(long) != 53 || !strings.HasPrefix(long, strings.Repeat("a", 40)+"-") {
		t.Fatalf("a long name: %q (%d)", long, len(long))
	}
	hr.Spec.ReleaseName = strings.Repeat("a", 59) + "b"
	if Name(hr) == long {
		t.Fatal("two long names share a release name")
	}
}

func TestHelmChart(t *testing.T) {
	hr := &v2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "podinfo"}}
	hr.Spec.Interval = meta.Duration{Duration: 5 * time.Minute}
	if HelmChart(hr) != nil {
		t.Fatal("a chartRef release made a HelmChart")
	}
	hr.Spec.Chart = &v2.HelmChartTemplate{
		ObjectMeta: &v2.HelmChartTemplateObjectMeta{Labels: map[string]string{"team": "web", NameLabel: "spoofed"}, Annotations: map[string]string{"a": "b"}},
		Spec: v2.HelmChartTemplateSpec{Chart: "podinfo", SourceRef: v2.CrossNamespaceObjectReference{Kind: "HelmRepository", Name: "charts", Namespace: "flux-system"},
			ValuesFiles: []string{"values-prod.yaml"}, Verify: &v2.HelmChartTemplateVerification{Provider: "cosign", SecretRef: &meta.LocalObjectReference{Name: "keys"}}},
	}
	c := HelmChart(hr)
	if c.Namespace != "flux-system" || c.Name != "team-podinfo" || c.Labels[NameLabel] != "podinfo" || c.Labels[NamespaceLabel] != "team" || c.Labels["team"] != "web" || c.Annotations["a"] != "b" {
		t.Errorf("meta: %+v", c.ObjectMeta)
	}
	s := c.Spec
	if s.Chart != "podinfo" || s.Version != "*" || s.SourceRef.Kind != "HelmRepository" || s.SourceRef.Name != "charts" || s.Interval.Duration != 5*time.Minute ||
		s.ReconcileStrategy != "ChartVersion" || len(s.ValuesFiles) != 1 || s.Verify == nil || s.Verify.SecretRef.Name != "keys" {
		t.Errorf("spec: %+v", s)
	}
	hr.Spec.Chart.Spec.Interval = &meta.Duration{Duration: time.Hour}
	hr.Spec.Chart.Spec.SourceRef.Namespace = ""
	if c := HelmChart(hr); c.Spec.Interval.Duration != time.Hour || c.Namespace != "team" {
		t.Errorf("interval %v namespace %s", c.Spec.Interval, c.Namespace)
	}
}

func TestVersionWithDigest(t *testing.T) {
	hex := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ version, revision, want string }{
		{"1.2.3", "1.2.3@sha256:" + hex, "1.2.3+0123456789ab"},
		{"1.2.3", "sha256:" + hex, "1.2.3+0123456789ab"},
		{"1.2.3+build.5", "latest@sha256:" + hex, "1.2.3+build.5.0123456789ab"},
		{"1.2.3-rc.1", "v1@sha256:" + hex, "1.2.3-rc.1+0123456789ab"},
		{"1.2.3", "no-digest", "1.2.3"},
	} {
		if got, err := VersionWithDigest(tc.version, tc.revision); err != nil || got != tc.want {
			t.Errorf("%s %s: %q %v, want %q", tc.version, tc.revision, got, err, tc.want)
		}
	}
	if _, err := VersionWithDigest("not-semver", "sha256:"+hex); err == nil {
		t.Error("a chart version that is not semver was accepted")
	}
}
