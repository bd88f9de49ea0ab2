package controller

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// setSourceArtifact plays source-controller (or the tool that fills an ExternalArtifact):
// src gets the chart archive at version as its artifact, at revision.
func setSourceArtifact(t *testing.T, src chartSource, revision string, archive []byte) {
	t.Helper()
	ctx := testenv.Context(t)
	url, digest := charts.publish(fmt.Sprintf("/%s/%s/%s/%s.tgz", src.GetObjectKind().GroupVersionKind().Kind, src.GetNamespace(), src.GetName(), revision), archive)
	a := &meta.Artifact{Path: "chart.tgz", URL: url, Revision: revision, Digest: digest, LastUpdateTime: metav1.Now()}
	ready := []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: meta.SucceededReason, LastTransitionTime: metav1.Now()}}
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(src), src); err != nil {
			return err
		}
		switch o := src.(type) {
		case *sourcev1.OCIRepository:
			o.Status.Artifact, o.Status.Conditions = a, ready
		case *sourcev1.ExternalArtifact:
			o.Status.Artifact, o.Status.Conditions = a, ready
		}
		return env.Client.Status().Update(ctx, src)
	})
}

// A chartRef to an OCIRepository installs its chart with the manifest digest as the version's
// build metadata ('<version>+<12 hex>'), so that a chart pushed again under the same version
// upgrades the release, at once on the source's new artifact; a chartRef to an
// ExternalArtifact installs its chart as it is.
func TestHelmReleaseFromChartRefs(t *testing.T) {
	ns := newNamespace(t)
	ctx := testenv.Context(t)
	oci := &sourcev1.OCIRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-oci"},
		Spec: sourcev1.OCIRepositorySpec{URL: "oci://registry.example.com/charts/demo", Interval: meta.Duration{Duration: time.Hour},
			LayerSelector: &sourcev1.OCILayerSelector{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Operation: sourcev1.OCILayerCopy}},
	}
	if err := env.Client.Create(ctx, oci); err != nil {
		t.Fatal(err)
	}
	key := newRelease(t, ns, func(hr *v2.HelmRelease) {
		hr.Spec.Chart = nil
		hr.Spec.ChartRef = &v2.CrossNamespaceSourceReference{Kind: sourcev1.OCIRepositoryKind, Name: "demo-oci"}
	})
	waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse || c.Reason != meta.ArtifactFailedReason {
			return fmt.Errorf("want waiting for the artifact: %s %s %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})

	d1 := "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	setSourceArtifact(t, oci, "1.0.0@"+d1, chartArchive(t, "1.0.0"))
	got := waitRelease(t, key, releasedAt(1, "1.0.0+111111111111"))
	if got.Status.LastAttemptedRevision != "1.0.0+111111111111" || got.Status.HelmChart != "" {
		t.Errorf("lastAttemptedRevision %q, helmChart %q", got.Status.LastAttemptedRevision, got.Status.HelmChart)
	}
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Data["chart"] != "1.0.0+111111111111" {
		t.Errorf("configmap %v: %v", cm.Data, err)
	}

	// The same version pushed again: a new digest, an upgrade.
	d2 := "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	setSourceArtifact(t, oci, "1.0.0@"+d2, chartArchive(t, "1.0.0", map[string]string{"templates/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"}))
	waitRelease(t, key, releasedAt(2, "1.0.0+222222222222"))
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "extra"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("the re-pushed chart was not released: %v", err)
	}

	ext := &sourcev1.ExternalArtifact{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-ext"}}
	if err := env.Client.Create(ctx, ext); err != nil {
		t.Fatal(err)
	}
	setSourceArtifact(t, ext, "3.1.0", chartArchive(t, "3.1.0"))
	extKey := newRelease(t, ns, func(hr *v2.HelmRelease) {
		hr.Name = "demo-ext"
		hr.Spec.Chart = nil
		hr.Spec.ChartRef = &v2.CrossNamespaceSourceReference{Kind: sourcev1.ExternalArtifactKind, Name: "demo-ext"}
	})
	waitRelease(t, extKey, releasedAt(1, "3.1.0"))
}
