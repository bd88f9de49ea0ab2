package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	helmv2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// releases is the number of HelmReleases of the helm-releases scenario (-helm-releases).
var releases = 1000

// helmArgs are extra flags for helm-controller (-helm-args).
var helmArgs string

func helmReleaseScenarios() []scenario {
	return []scenario{{
		name:   "helm-releases",
		note:   "HelmReleases of a small chart (a Deployment, a Service, a ConfigMap) on kwok: all Ready, then nothing changed, then new values on all",
		runAll: helmReleasesRun,
	}}
}

// smallChartRepo serves one chart, 'app' 1.0.0: a Deployment, a Service and a ConfigMap.
type smallChartRepo struct {
	srv   *http.Server
	url   string
	index []byte
	tgz   []byte
}

func newSmallChartRepo() (*smallChartRepo, error) {
	files := map[string]string{
		"app/Chart.yaml":  "apiVersion: v2\nname: app\nversion: 1.0.0\nappVersion: \"1.0\"\n",
		"app/values.yaml": "replicas: 1\nmessage: hello\n",
		"app/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: app
          image: ghcr.io/stefanprodan/podinfo:6.9.0
`,
		"app/templates/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector: {app: {{ .Release.Name }}}\n  ports:\n    - port: 80\n",
		"app/templates/config.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  message: {{ .Values.message | quote }}\n",
	}
	tgz, err := tarGz(files)
	if err != nil {
		return nil, err
	}
	r := &smallChartRepo{tgz: tgz}
	r.index = fmt.Appendf(nil, "apiVersion: v1\nentries:\n  app:\n  - apiVersion: v2\n    name: app\n    version: 1.0.0\n    appVersion: \"1.0\"\n    digest: %x\n    urls:\n    - app-1.0.0.tgz\n", sha256.Sum256(r.tgz))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.url = "http://" + ln.Addr().String()
	r.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch strings.TrimPrefix(req.URL.Path, "/") {
		case "index.yaml":
			_, _ = w.Write(r.index)
		case "app-1.0.0.tgz":
			_, _ = w.Write(r.tgz)
		default:
			http.NotFound(w, req)
		}
	})}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *smallChartRepo) close() { _ = r.srv.Close() }

// helmReleasesRun measures helm-controller with releases HelmReleases, each with its own
// HelmChart (spec.chart) from one HelmRepository, on kwok nodes that run their Pods: created
// to all Ready (installed, Deployments available); a reconcile requested on every release
// with nothing changed (no Helm action expected); new values on every release (one upgrade
// each).
func helmReleasesRun(ctx context.Context, h *harness) ([]result, error) {
	if err := h.startCluster(ctx); err != nil {
		return nil, err
	}
	ns, err := h.namespace(ctx)
	if err != nil {
		return nil, err
	}
	defer h.deleteNamespace(ns) // after the controllers stopped
	repo, err := newSmallChartRepo()
	if err != nil {
		return nil, err
	}
	defer repo.close()
	src, err := startSource(h, ns)
	if err != nil {
		return nil, err
	}
	defer src.stop()
	args := strings.Fields(helmArgs)
	hc, err := startController(h.binDir, "helm-controller", h.env.Kubeconfig, h.work, ns, args...)
	if err != nil {
		return nil, err
	}
	defer hc.stop()
	if err := h.env.Client.Create(ctx, &sourcev1.HelmRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "charts"},
		Spec:       sourcev1.HelmRepositorySpec{URL: repo.url, Interval: meta.Duration{Duration: time.Hour}},
	}); err != nil {
		return nil, err
	}

	// 1. Created → all Ready.
	before, err := hc.usage()
	if err != nil {
		return nil, err
	}
	srcBefore, err := src.usage()
	if err != nil {
		return nil, err
	}
	start, machine := time.Now(), machineCPU()
	profiled := hc.profile("helm-releases-install")
	for i := range releases {
		hr := &helmv2.HelmRelease{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app-%04d", i)},
			Spec: helmv2.HelmReleaseSpec{
				Interval: meta.Duration{Duration: time.Hour},
				Chart: &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{
					Chart: "app", Version: "1.x",
					SourceRef: helmv2.CrossNamespaceObjectReference{Kind: sourcev1.HelmRepositoryKind, Name: "charts"},
				}},
			},
		}
		if err := h.env.Client.Create(ctx, hr); err != nil {
			return nil, err
		}
	}
	if err := waitAll(ctx, h, &helmv2.HelmReleaseList{}, ns, releases, 20*time.Minute, releasedAt(1)); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, hc.logPath)
	}
	install, err := hc.since(before, start)
	<-profiled
	if err != nil {
		return nil, err
	}
	srcAfter, err := src.usage()
	if err != nil {
		return nil, err
	}
	install.Scenario = fmt.Sprintf("helm-releases-%d-install", releases)
	install.Note = fmt.Sprintf("%d HelmReleases (each its own HelmChart from one HelmRepository; a Deployment, a Service, a ConfigMap) on kwok, created to all Ready (installed, Deployments available)", releases)
	install.Extra = map[string]float64{"source-controller CPU (s)": srcAfter.CPUSeconds - srcBefore.CPUSeconds, "source-controller peak RSS (MiB)": srcAfter.PeakRSSMiB,
		"machine CPU busy (%)": machineCPU().busySince(machine)}

	// 2. Nothing changed: requestedAt on every release.
	before, err = hc.usage()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	value := time.Now().Format(time.RFC3339Nano)
	for i := range releases {
		if err := requestReconcileOf(ctx, h, &helmv2.HelmRelease{}, ns, fmt.Sprintf("app-%04d", i), value); err != nil {
			return nil, err
		}
	}
	if err := waitAll(ctx, h, &helmv2.HelmReleaseList{}, ns, releases, 10*time.Minute, func(l *helmv2.HelmReleaseList) int {
		n := 0
		for _, o := range l.Items {
			if o.Status.LastHandledReconcileAt == value {
				n++
			}
		}
		return n
	}); err != nil {
		return nil, err
	}
	noChange, err := hc.since(before, start)
	if err != nil {
		return nil, err
	}
	list := &helmv2.HelmReleaseList{}
	if err := h.env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	upgrades := 0
	for _, o := range list.Items {
		if o.Status.LastReleaseRevision != 1 {
			upgrades++
		}
	}
	noChange.Scenario = fmt.Sprintf("helm-releases-%d-no-change", releases)
	noChange.Note = fmt.Sprintf("requestedAt on the %d HelmReleases, nothing changed, until all handled", releases)
	noChange.Extra = map[string]float64{"Helm upgrades": float64(upgrades)}

	// 3. New values on every release: one upgrade each.
	before, err = hc.usage()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	patch := []byte(`{"spec":{"values":{"message":"changed"}}}`)
	for i := range releases {
		hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app-%04d", i)}}
		if err := h.env.Client.Patch(ctx, hr, client.RawPatch("application/merge-patch+json", patch)); err != nil {
			return nil, err
		}
	}
	if err := waitAll(ctx, h, &helmv2.HelmReleaseList{}, ns, releases, 20*time.Minute, releasedAt(2)); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, hc.logPath)
	}
	upgrade, err := hc.since(before, start)
	if err != nil {
		return nil, err
	}
	upgrade.Scenario = fmt.Sprintf("helm-releases-%d-values-change", releases)
	upgrade.Note = fmt.Sprintf("new values on the %d HelmReleases, until all Ready at revision 2", releases)
	return []result{install, noChange, upgrade}, nil
}

// releasedAt counts the HelmReleases Ready at release revision.
func releasedAt(revision int) func(*helmv2.HelmReleaseList) int {
	return func(l *helmv2.HelmReleaseList) int {
		n := 0
		for _, o := range l.Items {
			if readyTrue(o.Status.Conditions) && o.Status.ObservedGeneration == o.Generation && o.Status.LastReleaseRevision == revision {
				n++
			}
		}
		return n
	}
}
