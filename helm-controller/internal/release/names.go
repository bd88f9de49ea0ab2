// Package release derives what a HelmRelease implies besides the Helm release itself: its
// name, namespaces, and the HelmChart its chart template makes.
package release

import (
	"crypto/sha256"
	"encoding/hex"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// Labels that name the HelmRelease on the HelmChart it makes and on every rendered object.
const (
	NameLabel      = "helm.toolkit.fluxcd.io/name"
	NamespaceLabel = "helm.toolkit.fluxcd.io/namespace"
)

// maxNameLength is Helm's limit on a release name.
const maxNameLength = 53

// Name is the Helm release name: spec.releaseName, else '[<targetNamespace>-]<name>'; one
// over Helm's 53 characters becomes its first 40, '-' and 12 hex characters of its sha256.
func Name(hr *v2.HelmRelease) string {
	name := hr.Spec.ReleaseName
	if name == "" {
		name = hr.Name
		if hr.Spec.TargetNamespace != "" {
			name = hr.Spec.TargetNamespace + "-" + name
		}
	}
	if len(name) > maxNameLength {
		sum := sha256.Sum256([]byte(name))
		name = name[:40] + "-" + hex.EncodeToString(sum[:])[:12]
	}
	return name
}

// TargetNamespace is where the release's objects go: spec.targetNamespace, else the HelmRelease's.
func TargetNamespace(hr *v2.HelmRelease) string {
	if hr.Spec.TargetNamespace != "" {
		return hr.Spec.TargetNamespace
	}
	return hr.Namespace
}

// StorageNamespace is where Helm keeps the release's Secrets: spec.storageNamespace, else the
// HelmRelease's.
func StorageNamespace(hr *v2.HelmRelease) string {
	if hr.Spec.StorageNamespace != "" {
		return hr.Spec.StorageNamespace
	}
	return hr.Namespace
}

// ChartName is the name and namespace of the HelmChart spec.chart makes: '<ns>-<name>' in the
// source's namespace.
func ChartName(hr *v2.HelmRelease) (namespace, name string) {
	namespace = hr.Namespace
	if hr.Spec.Chart != nil && hr.Spec.Chart.Spec.SourceRef.Namespace != "" {
		namespace = hr.Spec.Chart.Spec.SourceRef.Namespace
	}
	return namespace, hr.Namespace + "-" + hr.Name
}

// HelmChart is the HelmChart spec.chart describes (nil without one): its template's labels and
// annotations with the release's name labels, its spec with Flux's defaults (version '*', the
// release's interval).
func HelmChart(hr *v2.HelmRelease) *sourcev1.HelmChart {
	if hr.Spec.Chart == nil {
		return nil
	}
	t := hr.Spec.Chart
	ns, name := ChartName(hr)
	labels := map[string]string{}
	var annotations map[string]string
	if t.ObjectMeta != nil {
		for k, v := range t.ObjectMeta.Labels {
			labels[k] = v
		}
		if len(t.ObjectMeta.Annotations) > 0 {
			annotations = map[string]string{}
			for k, v := range t.ObjectMeta.Annotations {
				annotations[k] = v
			}
		}
	}
	labels[NameLabel], labels[NamespaceLabel] = hr.Name, hr.Namespace
	version := t.Spec.Version
	if version == "" {
		version = "*"
	}
	interval := hr.Spec.Interval
	if t.Spec.Interval != nil {
		interval = *t.Spec.Interval
	}
	strategy := t.Spec.ReconcileStrategy
	if strategy == "" {
		strategy = sourcev1.ReconcileStrategyChartVersion
	}
	chart := &sourcev1.HelmChart{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations},
		Spec: sourcev1.HelmChartSpec{
			Chart:                    t.Spec.Chart,
			Version:                  version,
			SourceRef:                sourcev1.LocalHelmChartSourceReference{Kind: t.Spec.SourceRef.Kind, Name: t.Spec.SourceRef.Name},
			Interval:                 interval,
			ReconcileStrategy:        strategy,
			ValuesFiles:              t.Spec.ValuesFiles,
			IgnoreMissingValuesFiles: t.Spec.IgnoreMissingValuesFiles,
		},
	}
	if v := t.Spec.Verify; v != nil {
		chart.Spec.Verify = &sourcev1.OCIRepositoryVerification{Provider: v.Provider, SecretRef: v.SecretRef}
	}
	return chart
}
