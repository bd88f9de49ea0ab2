package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// The Helm scenario's shape: an index of helmIndexCharts × helmIndexVersions entries of
// about 1 KB each (100 MB), and helmCharts HelmCharts resolved against it.
const (
	helmIndexCharts   = 2500
	helmIndexVersions = 48
	helmCharts        = 100
)

func helmScenarios() []scenario {
	return []scenario{{
		name:   "helm-index-100mb",
		note:   "a HelmRepository with a 100 MB index, 100 HelmCharts resolved against it; then nothing changed",
		runAll: helmIndex,
	}}
}

// chartRepoServer serves index.yaml from a file and small chart archives.
type chartRepoServer struct {
	srv   *http.Server
	url   string
	index string
	etag  string
	tgz   map[string][]byte
}

func newChartRepoServer(dir string) (*chartRepoServer, error) {
	s := &chartRepoServer{index: filepath.Join(dir, "index.yaml"), tgz: map[string][]byte{}}
	for c := range helmCharts {
		name := fmt.Sprintf("chart-%05d", c*helmIndexCharts/helmCharts)
		for _, v := range []int{helmIndexVersions - 1} {
			version := fmt.Sprintf("1.%d.0", v)
			data, err := chartArchive(name, version)
			if err != nil {
				return nil, err
			}
			s.tgz[name+"-"+version+".tgz"] = data
		}
	}
	size, err := s.writeIndex()
	if err != nil {
		return nil, err
	}
	s.etag = fmt.Sprintf(`"%d"`, size)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index.yaml" {
			if r.Header.Get("If-None-Match") == s.etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", s.etag)
			http.ServeFile(w, r, s.index)
			return
		}
		data, ok := s.tgz[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *chartRepoServer) close() { _ = s.srv.Close() }

// writeIndex writes the index as `helm repo index` does; the digests of the served archives
// are their own, the others made up.
func (s *chartRepoServer) writeIndex() (int64, error) {
	f, err := os.Create(s.index)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprint(w, "apiVersion: v1\nentries:\n")
	description := strings.Repeat("A chart that deploys a service with its config. ", 6)
	for c := range helmIndexCharts {
		name := fmt.Sprintf("chart-%05d", c)
		fmt.Fprintf(w, "  %s:\n", name)
		for v := range helmIndexVersions {
			version := fmt.Sprintf("1.%d.0", v)
			digest := fmt.Sprintf("%064x", c*1000+v)
			if data, ok := s.tgz[name+"-"+version+".tgz"]; ok {
				digest = fmt.Sprintf("%x", sha256.Sum256(data))
			}
			fmt.Fprintf(w, `  - annotations:
      category: Infrastructure
    apiVersion: v2
    appVersion: 2.%[2]d.0
    created: "2026-11-01T10:00:00.000000000Z"
    description: %[3]s
    digest: %[4]s
    home: https://example.com/%[1]s
    icon: https://example.com/%[1]s/icon.png
    keywords: [web, http, server, service]
    maintainers:
    - email: team@example.com
      name: team
    name: %[1]s
    sources:
    - https://github.com/example/%[1]s
    type: application
    urls:
    - %[1]s-%[5]s.tgz
    version: %[5]s
`, name, v, description, digest, version)
		}
	}
	fmt.Fprint(w, "generated: \"2026-11-01T10:00:00Z\"\n")
	if err := w.Flush(); err != nil {
		return 0, err
	}
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

func chartArchive(name, version string) ([]byte, error) {
	return tarGz(map[string]string{
		name + "/Chart.yaml":            fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version),
		name + "/values.yaml":           "replicas: 1\n",
		name + "/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	})
}

// tarGz packs files (by path) into a gzipped tar archive, in path order.
func tarGz(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// helmIndex measures source-controller with one HelmRepository whose index is 100 MB:
// created → Ready (download, lookup written), 100 HelmCharts → all Ready, and a request to
// reconcile everything with nothing changed.
func helmIndex(ctx context.Context, h *harness) ([]result, error) {
	ns, err := h.namespace(ctx)
	if err != nil {
		return nil, err
	}
	repoDir := filepath.Join(h.work, ns+"-charts")
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		return nil, err
	}
	repo, err := newChartRepoServer(repoDir)
	if err != nil {
		return nil, err
	}
	defer repo.close()
	info, err := os.Stat(repo.index)
	if err != nil {
		return nil, err
	}
	src, err := startSource(h, ns)
	if err != nil {
		return nil, err
	}
	defer src.stop()

	// 1. The index: created → Ready.
	before, err := src.usage()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	hr := &sourcev1.HelmRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big"},
		Spec:       sourcev1.HelmRepositorySpec{URL: repo.url, Interval: meta.Duration{Duration: time.Hour}, Timeout: &meta.Duration{Duration: 5 * time.Minute}},
	}
	if err := h.env.Client.Create(ctx, hr); err != nil {
		return nil, err
	}
	if err := waitAll(ctx, h, &sourcev1.HelmRepositoryList{}, ns, 1, 10*time.Minute, helmReposReady); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, src.logPath)
	}
	index, err := src.since(before, start)
	if err != nil {
		return nil, err
	}
	index.Scenario = "helm-index-100mb-fetch"
	index.Note = fmt.Sprintf("a HelmRepository whose index is %d MB (%d charts × %d versions), created to Ready: downloaded, stored and indexed into the chart lookup", info.Size()>>20, helmIndexCharts, helmIndexVersions)
	index.Extra = map[string]float64{"index MB": float64(info.Size() >> 20)}

	// 2. 100 HelmCharts against it.
	before, err = src.usage()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	for c := range helmCharts {
		name := fmt.Sprintf("chart-%05d", c*helmIndexCharts/helmCharts)
		chart := &sourcev1.HelmChart{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: sourcev1.HelmChartSpec{
				Chart: name, Version: "1.x", Interval: meta.Duration{Duration: time.Hour},
				SourceRef: sourcev1.LocalHelmChartSourceReference{Kind: sourcev1.HelmRepositoryKind, Name: "big"},
			},
		}
		if err := h.env.Client.Create(ctx, chart); err != nil {
			return nil, err
		}
	}
	if err := waitAll(ctx, h, &sourcev1.HelmChartList{}, ns, helmCharts, 10*time.Minute, helmChartsReady); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, src.logPath)
	}
	charts, err := src.since(before, start)
	if err != nil {
		return nil, err
	}
	charts.Scenario = "helm-index-100mb-charts"
	charts.Note = fmt.Sprintf("%d HelmCharts (range 1.x) resolved against the %d MB index, created to all Ready", helmCharts, info.Size()>>20)

	// 3. Nothing changed: requestedAt on the repository and on every chart.
	before, err = src.usage()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	value := time.Now().Format(time.RFC3339Nano)
	if err := requestReconcileOf(ctx, h, &sourcev1.HelmRepository{}, ns, "big", value); err != nil {
		return nil, err
	}
	for c := range helmCharts {
		if err := requestReconcileOf(ctx, h, &sourcev1.HelmChart{}, ns, fmt.Sprintf("chart-%05d", c*helmIndexCharts/helmCharts), value); err != nil {
			return nil, err
		}
	}
	if err := waitAll(ctx, h, &sourcev1.HelmChartList{}, ns, helmCharts, 5*time.Minute, func(l *sourcev1.HelmChartList) int {
		n := 0
		for _, c := range l.Items {
			if c.Status.LastHandledReconcileAt == value {
				n++
			}
		}
		return n
	}); err != nil {
		return nil, err
	}
	noChange, err := src.since(before, start)
	if err != nil {
		return nil, err
	}
	noChange.Scenario = "helm-index-100mb-no-change"
	noChange.Note = "requestedAt on the HelmRepository (answered 304) and the 100 HelmCharts, nothing changed, until all handled"

	// 4. 100 charts kept in one Git repository, packaged from its artifact.
	files := map[string]string{}
	for c := range helmCharts {
		dir := fmt.Sprintf("charts/app-%03d/", c)
		files[dir+"Chart.yaml"] = fmt.Sprintf("apiVersion: v2\nname: app-%03d\nversion: 1.0.%d\n", c, c)
		files[dir+"values.yaml"] = "replicas: 1\nimage: {repository: ghcr.io/example/app, tag: v1}\n"
		for t := range 5 {
			files[fmt.Sprintf("%stemplates/t%d.yaml", dir, t)] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-" + fmt.Sprint(t) + "\ndata:\n  replicas: {{ .Values.replicas | quote }}\n"
		}
	}
	w, err := h.newWorktree("helm-charts-"+ns, files)
	if err != nil {
		return nil, err
	}
	if err := h.env.Client.Create(ctx, gitRepo(ns, "charts", w.URL)); err != nil {
		return nil, err
	}
	if err := waitAll(ctx, h, &sourcev1.GitRepositoryList{}, ns, 1, 2*time.Minute, readyCount); err != nil {
		return nil, err
	}
	before, err = src.usage()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	profiled := src.profile("helm-git-100-charts")
	for c := range helmCharts {
		chart := &sourcev1.HelmChart{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("git-app-%03d", c)},
			Spec: sourcev1.HelmChartSpec{
				Chart: fmt.Sprintf("charts/app-%03d", c), Interval: meta.Duration{Duration: time.Hour},
				SourceRef: sourcev1.LocalHelmChartSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "charts"},
			},
		}
		if err := h.env.Client.Create(ctx, chart); err != nil {
			return nil, err
		}
	}
	if err := waitAll(ctx, h, &sourcev1.HelmChartList{}, ns, 2*helmCharts, 10*time.Minute, helmChartsReady); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, src.logPath)
	}
	fromGit, err := src.since(before, start)
	<-profiled
	if err != nil {
		return nil, err
	}
	fromGit.Scenario = "helm-git-100-charts"
	fromGit.Note = fmt.Sprintf("%d HelmCharts kept in one Git repository (7 files each), packaged from the GitRepository's artifact, created to all Ready", helmCharts)
	return []result{index, charts, noChange, fromGit}, nil
}

func helmReposReady(l *sourcev1.HelmRepositoryList) int {
	n := 0
	for _, o := range l.Items {
		if readyTrue(o.Status.Conditions) && o.Status.ObservedGeneration == o.Generation && o.Status.Artifact != nil {
			n++
		}
	}
	return n
}

func helmChartsReady(l *sourcev1.HelmChartList) int {
	n := 0
	for _, o := range l.Items {
		if readyTrue(o.Status.Conditions) && o.Status.ObservedGeneration == o.Generation && o.Status.Artifact != nil {
			n++
		}
	}
	return n
}

func readyTrue(conds []metav1.Condition) bool {
	for _, c := range conds {
		if c.Type == meta.ReadyCondition && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

// requestReconcileOf sets requestedAt to value on the object.
func requestReconcileOf(ctx context.Context, h *harness, obj client.Object, ns, name, value string) error {
	obj.SetNamespace(ns)
	obj.SetName(name)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, value)
	return h.env.Client.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", []byte(patch)))
}
