package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/e2e/internal/chartrepo"
	helmv2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

func publish(t *testing.T, repo *chartrepo.Repo, version string) {
	t.Helper()
	if err := repo.Publish("podinfo", version, "6.9.0", chartrepo.WebApp); err != nil {
		t.Fatal(err)
	}
}

// The Helm loop with the real binaries on a cluster whose simulated nodes run Pods: a
// HelmRelease from a HelmRepository on 127.0.0.1 is installed and Ready once its Deployment is
// available; a new chart version and new values upgrade it; a scaled Deployment is put back
// from the watch; Flux's CLI lists, reconciles, suspends and resumes it; deleting it uninstalls
// the release.
func TestHelmReleaseLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cluster, err := env.StartCluster(ctx, testenv.ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()

	repo, err := chartrepo.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	publish(t, repo, "6.0.0")
	storage := freeAddr(t)
	startBinary(t, t, "source-controller", "--storage-path="+t.TempDir(), "--storage-addr="+storage, "--storage-adv-addr="+storage)
	startBinary(t, t, "helm-controller", "--requeue-dependency=2s")

	const ns = "helm-loop"
	createNamespace(t, ns)
	hrepo := &sourcev1.HelmRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "charts"},
		Spec:       sourcev1.HelmRepositorySpec{URL: repo.URL, Interval: meta.Duration{Duration: time.Hour}},
	}
	hr := &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: helmv2.HelmReleaseSpec{
			Interval: meta.Duration{Duration: time.Hour},
			Chart: &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{
				Chart: "podinfo", Version: "6.x", Interval: &meta.Duration{Duration: time.Hour},
				SourceRef: helmv2.CrossNamespaceObjectReference{Kind: sourcev1.HelmRepositoryKind, Name: "charts"},
			}},
			DriftDetection: &helmv2.DriftDetection{Mode: "enabled"},
		},
	}
	for _, o := range []client.Object{hrepo, hr} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	key := client.ObjectKeyFromObject(hr)

	t.Run("1-installed", func(t *testing.T) {
		waitReleased(t, key, 1, "6.0.0")
		waitAvailable(t, ns, "podinfo", 1)
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sh.helm.release.v1.podinfo.v1"}, &corev1.Secret{}); err != nil {
			t.Errorf("Helm's release Secret: %v", err)
		}
		out := flux(t, "get", "helmreleases", "-n", ns)
		if !strings.Contains(out, "podinfo") || !strings.Contains(out, "6.0.0") || !strings.Contains(out, "True") {
			t.Errorf("flux get helmreleases:\n%s", out)
		}
	})

	t.Run("2-new-chart-and-values-upgraded", func(t *testing.T) {
		publish(t, repo, "6.1.0")
		flux(t, "reconcile", "source", "helm", "charts", "-n", ns)
		waitReleased(t, key, 2, "6.1.0")
		got := &helmv2.HelmRelease{}
		if err := env.Client.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(got.DeepCopy())
		got.Spec.Values = &runtime.RawExtension{Raw: []byte(`{"replicas":2,"message":"upgraded"}`)}
		if err := env.Client.Patch(ctx, got, patch); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, key, 3, "6.1.0")
		waitAvailable(t, ns, "podinfo", 2)
		cm := &corev1.ConfigMap{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, cm); err != nil || cm.Data["message"] != "upgraded" || cm.Data["chart"] != "6.1.0" {
			t.Errorf("the release's ConfigMap: %+v %v", cm.Data, err)
		}
	})

	t.Run("3-drift-corrected-from-the-watch", func(t *testing.T) {
		d := &appsv1.Deployment{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, d); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 5}}), client.FieldOwner("kubectl")); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
				return err
			}
			if *d.Spec.Replicas != 2 {
				return fmt.Errorf("%d replicas", *d.Spec.Replicas)
			}
			return nil
		})
	})

	t.Run("4-flux-cli", func(t *testing.T) {
		flux(t, "suspend", "helmrelease", "podinfo", "-n", ns)
		got := &helmv2.HelmRelease{}
		if err := env.Client.Get(ctx, key, got); err != nil || !got.Spec.Suspend {
			t.Errorf("suspend: %v %v", got.Spec.Suspend, err)
		}
		flux(t, "resume", "helmrelease", "podinfo", "-n", ns)
		out := flux(t, "reconcile", "helmrelease", "podinfo", "-n", ns)
		if !strings.Contains(out, "applied revision 6.1.0") {
			t.Errorf("flux reconcile helmrelease:\n%s", out)
		}
	})

	t.Run("5-deleted-uninstalled", func(t *testing.T) {
		if err := env.Client.Delete(ctx, hr); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Minute, func() error {
			for _, o := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ConfigMap{}} {
				if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, o); !apierrors.IsNotFound(err) {
					return fmt.Errorf("%T still there (%v)", o, err)
				}
			}
			if err := env.Client.Get(ctx, key, &helmv2.HelmRelease{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("the HelmRelease is still there (%v)", err)
			}
			return nil
		})
	})
}

// waitReleased waits until the HelmRelease is Ready at the release revision with the chart
// version.
func waitReleased(t *testing.T, key client.ObjectKey, revision int, chart string) {
	t.Helper()
	testenv.Eventually(t, 3*time.Minute, func() error {
		hr := &helmv2.HelmRelease{}
		if err := env.Client.Get(context.Background(), key, hr); err != nil {
			return err
		}
		c := readyCondition(hr.Status.Conditions)
		if c == nil || c.Status != metav1.ConditionTrue || hr.Status.LastReleaseRevision != revision || len(hr.Status.History) == 0 || hr.Status.History[0].ChartVersion != chart {
			return fmt.Errorf("%s: ready = %+v, revision %d", key, c, hr.Status.LastReleaseRevision)
		}
		return nil
	})
}
