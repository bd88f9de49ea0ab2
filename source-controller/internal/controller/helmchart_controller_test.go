package controller

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/helm/helmtest"
)

// chartFiles is a chart's archive: Chart.yaml and a template.
func chartFiles(t *testing.T, name, version string) []byte {
	return helmtest.ChartArchive(t, map[string]string{
		name + "/Chart.yaml":            fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version),
		name + "/values.yaml":           "replicas: 1\n",
		name + "/templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	})
}

// chartServer serves chart archives, recording the Authorization header of each request.
type chartServer struct {
	*httptest.Server
	mu      sync.Mutex
	charts  map[string][]byte
	authz   []string
	user    string
	pass    string
	servedN int
}

func newChartServer(t *testing.T) *chartServer {
	c := &chartServer{charts: map[string][]byte{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.authz = append(c.authz, r.Header.Get("Authorization"))
		if c.user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != c.user || p != c.pass {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		data, ok := c.charts[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		c.servedN++
		_, _ = w.Write(data)
	}))
	t.Cleanup(c.Close)
	return c
}

// chartIndex is an index of the archives by name → (version → archive URL and bytes).
type chartEntry struct {
	name, version, url string
	archive            []byte
	digest             string // the index's digest; the archive's when empty
}

func chartIndex(entries ...chartEntry) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n")
	byName := map[string][]chartEntry{}
	var names []string
	for _, e := range entries {
		if _, ok := byName[e.name]; !ok {
			names = append(names, e.name)
		}
		byName[e.name] = append(byName[e.name], e)
	}
	for _, n := range names {
		fmt.Fprintf(&b, "  %s:\n", n)
		for _, e := range byName[n] {
			digest := e.digest
			if digest == "" {
				digest = fmt.Sprintf("%x", sha256.Sum256(e.archive))
			}
			fmt.Fprintf(&b, "  - apiVersion: v2\n    name: %s\n    version: %s\n    digest: %s\n    urls:\n    - %s\n", e.name, e.version, digest, e.url)
		}
	}
	return b.String()
}

func helmChart(t *testing.T, name, repo, chart, version string, mutate ...func(*sourcev1.HelmChart)) *sourcev1.HelmChart {
	t.Helper()
	obj := &sourcev1.HelmChart{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: sourcev1.HelmChartSpec{
			Chart: chart, Version: version, Interval: meta.Duration{Duration: time.Hour},
			SourceRef: sourcev1.LocalHelmChartSourceReference{Kind: sourcev1.HelmRepositoryKind, Name: repo},
		},
	}
	for _, m := range mutate {
		m(obj)
	}
	if err := env.Client.Create(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(testenv.Context(t), obj) })
	return obj
}

// waitChart waits until check passes on the HelmChart's Ready condition at its generation.
func waitChart(t *testing.T, obj *sourcev1.HelmChart, check func(*sourcev1.HelmChart, *metav1.Condition) error) *sourcev1.HelmChart {
	t.Helper()
	var got *sourcev1.HelmChart
	testenv.Eventually(t, 30*time.Second, func() error {
		got = &sourcev1.HelmChart{}
		if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(obj), got); err != nil {
			return err
		}
		c := readyOf(got.Status.Conditions)
		if c == nil || c.ObservedGeneration != got.Generation {
			return fmt.Errorf("not reconciled: %+v", got.Status.Conditions)
		}
		return check(got, c)
	})
	return got
}

func chartAt(version string) func(*sourcev1.HelmChart, *metav1.Condition) error {
	return func(o *sourcev1.HelmChart, c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || o.Status.Artifact == nil || o.Status.Artifact.Revision != version {
			return fmt.Errorf("ready %s %s: %s, artifact %+v, want %s", c.Status, c.Reason, c.Message, o.Status.Artifact, version)
		}
		return nil
	}
}

func chartFailed(status metav1.ConditionStatus, reason, text string) func(*sourcev1.HelmChart, *metav1.Condition) error {
	return func(o *sourcev1.HelmChart, c *metav1.Condition) error {
		if c.Status != status || c.Reason != reason || !strings.Contains(c.Message, text) {
			return fmt.Errorf("ready %s %s: %s; want %s %s with %q", c.Status, c.Reason, c.Message, status, reason, text)
		}
		return nil
	}
}

// A HelmChart pulls the highest version its range allows (prereleases only when it names
// one), stores it with Flux's status, and follows a new index at once.
func TestHelmChartPullsTheHighestMatch(t *testing.T) {
	charts := newChartServer(t)
	var entries []chartEntry
	for _, v := range []string{"6.9.0", "6.9.1", "7.0.0-rc.1"} {
		e := chartEntry{name: "podinfo", version: v, url: "podinfo-" + v + ".tgz", archive: chartFiles(t, "podinfo", v)}
		charts.charts["charts/"+e.url] = e.archive
		entries = append(entries, e)
	}
	repo := newChartRepo(t, chartIndex(entries...), false)
	repo.set(func(c *chartRepo) { c.archives = charts })
	source := helmRepository(t, "podinfo-charts", repo.URL+"/charts")
	waitHelmRepo(t, source, readyAtRevision(indexRevision(chartIndex(entries...))))

	stable := helmChart(t, "podinfo", "podinfo-charts", "podinfo", "6.9.x")
	got := waitChart(t, stable, chartAt("6.9.1"))
	c := readyOf(got.Status.Conditions)
	if c.Reason != sourcev1.ChartPullSucceededReason || c.Message != "pulled 'podinfo' chart with version '6.9.1'" {
		t.Errorf("Ready: %s %s", c.Reason, c.Message)
	}
	if got.Status.ObservedChartName != "podinfo" || got.Status.ObservedSourceArtifactRevision != indexRevision(chartIndex(entries...)) ||
		got.Status.Artifact.Digest != fmt.Sprintf("sha256:%x", sha256.Sum256(entries[1].archive)) || !strings.HasSuffix(got.Status.URL, "/latest.tgz") {
		t.Errorf("status: %+v", got.Status)
	}
	resp, err := http.Get(got.Status.Artifact.URL)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(served) != string(entries[1].archive) {
		t.Error("the served artifact is not the chart")
	}
	pre := helmChart(t, "podinfo-rc", "podinfo-charts", "podinfo", ">=7.0.0-0")
	waitChart(t, pre, chartAt("7.0.0-rc.1"))
	latest := helmChart(t, "podinfo-any", "podinfo-charts", "podinfo", "")
	waitChart(t, latest, chartAt("6.9.1"))

	// A new version in the index: the chart follows when the repository does.
	e := chartEntry{name: "podinfo", version: "6.9.2", url: "podinfo-6.9.2.tgz", archive: chartFiles(t, "podinfo", "6.9.2")}
	charts.mu.Lock()
	charts.charts["charts/"+e.url] = e.archive
	charts.mu.Unlock()
	entries = append(entries, e)
	repo.set(func(c *chartRepo) { c.index = chartIndex(entries...) })
	requestHelmRepo(t, source)
	waitChart(t, stable, chartAt("6.9.2"))
}

// Credentials go to the repository's host only, unless passCredentials; a hostile archive,
// a digest that is not the index's and a version range that cannot parse are refused.
func TestHelmChartRefusesWhatItMustNot(t *testing.T) {
	elsewhere := newChartServer(t)
	good := chartFiles(t, "app", "1.0.0")
	elsewhere.charts["app-1.0.0.tgz"] = good
	hostile := helmtest.ChartArchive(t, map[string]string{"evil/Chart.yaml": "apiVersion: v2\nname: evil\nversion: 1.0.0\n", "evil/../../escape": "x"})
	elsewhere.charts["evil-1.0.0.tgz"] = hostile
	elsewhere.charts["swapped-1.0.0.tgz"] = chartFiles(t, "swapped", "1.0.0")
	index := chartIndex(
		chartEntry{name: "app", version: "1.0.0", url: elsewhere.URL + "/app-1.0.0.tgz", archive: good},
		chartEntry{name: "evil", version: "1.0.0", url: elsewhere.URL + "/evil-1.0.0.tgz", archive: hostile},
		chartEntry{name: "swapped", version: "1.0.0", url: elsewhere.URL + "/swapped-1.0.0.tgz", digest: strings.Repeat("0", 64)},
	)
	repo := newChartRepo(t, index, false)
	repo.set(func(c *chartRepo) { c.user, c.pass = "helm", "repo-password" })
	secret(t, "charts-auth", map[string]string{"username": "helm", "password": "repo-password"})
	withAuth := func(o *sourcev1.HelmRepository) { o.Spec.SecretRef = &meta.LocalObjectReference{Name: "charts-auth"} }
	kept := helmRepository(t, "kept", repo.URL+"/charts", withAuth)
	passed := helmRepository(t, "passed", repo.URL+"/charts", withAuth, func(o *sourcev1.HelmRepository) { o.Spec.PassCredentials = true })
	waitHelmRepo(t, kept, readyAtRevision(indexRevision(index)))
	waitHelmRepo(t, passed, readyAtRevision(indexRevision(index)))

	waitChart(t, helmChart(t, "app-kept", "kept", "app", "1.x"), chartAt("1.0.0"))
	elsewhere.mu.Lock()
	sent := append([]string(nil), elsewhere.authz...)
	elsewhere.mu.Unlock()
	if len(sent) == 0 || sent[len(sent)-1] != "" {
		t.Errorf("credentials went to another host: %q", sent)
	}
	waitChart(t, helmChart(t, "app-passed", "passed", "app", "1.x"), chartAt("1.0.0"))
	elsewhere.mu.Lock()
	last := elsewhere.authz[len(elsewhere.authz)-1]
	elsewhere.mu.Unlock()
	if !strings.HasPrefix(last, "Basic ") {
		t.Errorf("passCredentials sent no credentials: %q", last)
	}

	evil := waitChart(t, helmChart(t, "evil", "kept", "evil", "*"), chartFailed(metav1.ConditionFalse, sourcev1.ChartPullFailedReason, "leaves the chart"))
	if evil.Status.Artifact != nil {
		t.Errorf("a hostile chart was stored: %+v", evil.Status.Artifact)
	}
	waitChart(t, helmChart(t, "swapped", "kept", "swapped", "*"), chartFailed(metav1.ConditionFalse, sourcev1.ChartPullFailedReason, "is not the index's"))
	badRange := helmChart(t, "bad-range", "kept", "app", "not a range")
	testenv.Eventually(t, 30*time.Second, func() error {
		got := &sourcev1.HelmChart{}
		if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(badRange), got); err != nil {
			return err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == meta.StalledCondition && c.Reason == sourcev1.InvalidChartReferenceReason {
				return nil
			}
		}
		return fmt.Errorf("not stalled: %+v", got.Status.Conditions)
	})
	waitChart(t, helmChart(t, "missing-chart", "kept", "nothing", "*"), chartFailed(metav1.ConditionFalse, sourcev1.ChartPullFailedReason, "not in the index"))
}

// A chart whose HelmRepository does not exist yet waits for it, and is pulled as soon as it
// has an index.
func TestHelmChartWaitsForItsSource(t *testing.T) {
	archive := chartFiles(t, "later", "0.1.0")
	charts := newChartServer(t)
	charts.charts["charts/later-0.1.0.tgz"] = archive
	index := chartIndex(chartEntry{name: "later", version: "0.1.0", url: "later-0.1.0.tgz", archive: archive})
	repo := newChartRepo(t, index, false)
	repo.set(func(c *chartRepo) { c.archives = charts })
	chart := helmChart(t, "later", "later-charts", "later", "*")
	waitChart(t, chart, chartFailed(metav1.ConditionFalse, sourceUnavailableReason, "does not exist"))
	// The suite retries waiting charts after an hour: only the watch on the new index can
	// make this one Ready.
	helmRepository(t, "later-charts", repo.URL+"/charts")
	waitChart(t, chart, chartAt("0.1.0"))
}

// valuesFiles are merged in order into the packaged chart's values.yaml: Ready
// ChartPackageSucceeded, observedValuesFiles the files merged; a missing one fails unless
// ignoreMissingValuesFiles; a change of the list repackages.
func TestHelmChartMergesValuesFiles(t *testing.T) {
	archive := helmtest.ChartArchive(t, map[string]string{
		"web/Chart.yaml":       "apiVersion: v2\nname: web\nversion: 2.0.0\n",
		"web/values.yaml":      "replicas: 1\nimage: {tag: v1}\n",
		"web/values-prod.yaml": "replicas: 3\n",
		"web/values-eu.yaml":   "image: {tag: v2}\n",
	})
	charts := newChartServer(t)
	charts.charts["charts/web-2.0.0.tgz"] = archive
	index := chartIndex(chartEntry{name: "web", version: "2.0.0", url: "web-2.0.0.tgz", archive: archive})
	repo := newChartRepo(t, index, false)
	repo.set(func(c *chartRepo) { c.archives = charts })
	helmRepository(t, "web-charts", repo.URL+"/charts")

	chart := helmChart(t, "web-prod", "web-charts", "web", "2.x", func(c *sourcev1.HelmChart) {
		c.Spec.ValuesFiles = []string{"values.yaml", "values-prod.yaml", "values-eu.yaml"}
	})
	got := waitChart(t, chart, chartAt("2.0.0"))
	c := readyOf(got.Status.Conditions)
	if c.Reason != sourcev1.ChartPackageSucceededReason || c.Message != "packaged 'web' chart with version '2.0.0'" ||
		strings.Join(got.Status.ObservedValuesFiles, ",") != "values.yaml,values-prod.yaml,values-eu.yaml" {
		t.Errorf("status: %s %s, observedValuesFiles %v", c.Reason, c.Message, got.Status.ObservedValuesFiles)
	}
	resp, err := http.Get(got.Status.Artifact.URL)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if values := helmtest.Files(t, served)["web/values.yaml"]; values != "image:\n  tag: v2\nreplicas: 3\n" {
		t.Errorf("the packaged values.yaml:\n%s", values)
	}

	missing := helmChart(t, "web-missing", "web-charts", "web", "2.x", func(c *sourcev1.HelmChart) {
		c.Spec.ValuesFiles = []string{"values-prod.yaml", "values-nowhere.yaml"}
	})
	waitChart(t, missing, chartFailed(metav1.ConditionFalse, sourcev1.ChartPackageFailedReason, "values-nowhere.yaml"))
	patch := client.MergeFrom(missing.DeepCopy())
	missing.Spec.IgnoreMissingValuesFiles = true
	if err := env.Client.Patch(testenv.Context(t), missing, patch); err != nil {
		t.Fatal(err)
	}
	got = waitChart(t, missing, chartAt("2.0.0"))
	if strings.Join(got.Status.ObservedValuesFiles, ",") != "values-prod.yaml" {
		t.Errorf("observedValuesFiles %v, want only the file that exists", got.Status.ObservedValuesFiles)
	}
}

// A chart kept in Git is packaged from the GitRepository's artifact: its version from
// Chart.yaml (with '+<commit>' under the Revision strategy), a file:// dependency packaged
// into charts/, values files merged; a commit that leaves the version alone keeps the
// ChartVersion chart, and one that bumps it is packaged at once; a path out of the artifact
// is refused.
func TestHelmChartPackagesFromGit(t *testing.T) {
	srv := newGitServer(t)
	files := map[string]string{
		"charts/app/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.3.0\ndependencies:\n- name: lib\n  version: 0.1.0\n  repository: file://../lib\n",
		"charts/app/values.yaml":           "replicas: 1\n",
		"charts/app/values-prod.yaml":      "replicas: 3\n",
		"charts/app/templates/config.yaml": "kind: ConfigMap\n",
		"charts/lib/Chart.yaml":            "apiVersion: v2\nname: lib\nversion: 0.1.0\n",
	}
	rp := newRepo(t, srv, "org/charts.git", files)
	head := rp.commit(map[string]string{"README.md": "charts"}, "readme")
	rp.push("main")
	waitRevision(t, gitRepository(t, "charts-git", srv.url("org/charts.git")), "main@sha1:"+head)

	byVersion := helmChart(t, "git-app", "charts-git", "./charts/app", "", func(c *sourcev1.HelmChart) {
		c.Spec.SourceRef = sourcev1.LocalHelmChartSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "charts-git"}
		c.Spec.ValuesFiles = []string{"values.yaml", "values-prod.yaml"}
	})
	byRevision := helmChart(t, "git-app-rev", "charts-git", "charts/app", "", func(c *sourcev1.HelmChart) {
		c.Spec.SourceRef = sourcev1.LocalHelmChartSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "charts-git"}
		c.Spec.ReconcileStrategy = sourcev1.ReconcileStrategyRevision
	})
	got := waitChart(t, byVersion, chartAt("0.3.0"))
	c := readyOf(got.Status.Conditions)
	if c.Reason != sourcev1.ChartPackageSucceededReason || got.Status.ObservedSourceArtifactRevision != "main@sha1:"+head {
		t.Errorf("status: %s %s, source %s", c.Reason, c.Message, got.Status.ObservedSourceArtifactRevision)
	}
	resp, err := http.Get(got.Status.Artifact.URL)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	packaged := helmtest.Files(t, served)
	if packaged["app/values.yaml"] != "replicas: 3\n" || packaged["app/charts/lib-0.1.0.tgz"] == "" {
		t.Errorf("the package: values %q, files %d", packaged["app/values.yaml"], len(packaged))
	}
	waitChart(t, byRevision, chartAt("0.3.0+"+head[:12]))
	firstDigest := got.Status.Artifact.Digest

	// A commit that changes no version: ChartVersion keeps its chart, Revision follows.
	next := rp.commit(map[string]string{"charts/app/templates/extra.yaml": "kind: Secret\n"}, "a template")
	rp.push("main")
	requestReconcile(t, &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "charts-git"}})
	waitChart(t, byRevision, chartAt("0.3.0+"+next[:12]))
	got = waitChart(t, byVersion, func(o *sourcev1.HelmChart, c *metav1.Condition) error {
		if o.Status.ObservedSourceArtifactRevision != "main@sha1:"+next {
			return fmt.Errorf("source revision %s", o.Status.ObservedSourceArtifactRevision)
		}
		return chartAt("0.3.0")(o, c)
	})
	if got.Status.Artifact.Digest != firstDigest {
		t.Error("the ChartVersion chart was replaced for a commit that changed no version")
	}
	rp.commit(map[string]string{"charts/app/Chart.yaml": strings.Replace(files["charts/app/Chart.yaml"], "0.3.0", "0.4.0", 1)}, "bump")
	rp.push("main")
	requestReconcile(t, &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "charts-git"}})
	waitChart(t, byVersion, chartAt("0.4.0"))

	escape := helmChart(t, "git-escape", "charts-git", "../../etc", "", func(c *sourcev1.HelmChart) {
		c.Spec.SourceRef = sourcev1.LocalHelmChartSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "charts-git"}
	})
	waitChart(t, escape, chartFailed(metav1.ConditionFalse, sourcev1.ChartPackageFailedReason, "does not exist in the source"))
}

// A chart in Git whose dependency names a repository gets it from the HelmRepository with
// that URL, through its credentials, at the version Chart.lock pins; a repository that no
// HelmRepository names is never contacted.
func TestHelmChartDependencyFromAHelmRepository(t *testing.T) {
	charts := newChartServer(t)
	var entries []chartEntry
	for _, v := range []string{"1.2.0", "1.3.0"} {
		e := chartEntry{name: "redis", version: v, url: "redis-" + v + ".tgz", archive: chartFiles(t, "redis", v)}
		charts.charts["charts/"+e.url] = e.archive
		entries = append(entries, e)
	}
	repo := newChartRepo(t, chartIndex(entries...), false)
	repo.set(func(c *chartRepo) { c.archives, c.user, c.pass = charts, "deps", "dep-s3cret" })
	secret(t, "deps-auth", map[string]string{"username": "deps", "password": "dep-s3cret"})
	waitHelmRepo(t, helmRepository(t, "deps", repo.URL+"/charts/", func(r *sourcev1.HelmRepository) {
		r.Spec.SecretRef = &meta.LocalObjectReference{Name: "deps-auth"}
	}), readyAtRevision(indexRevision(chartIndex(entries...))))
	stranger := newChartServer(t)

	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/deps.git", map[string]string{
		"app/Chart.yaml":    "apiVersion: v2\nname: app\nversion: 2.0.0\ndependencies:\n- name: redis\n  version: 1.x\n  repository: " + repo.URL + "/charts\n",
		"app/Chart.lock":    "dependencies:\n- name: redis\n  repository: " + repo.URL + "/charts\n  version: 1.2.0\n",
		"latest/Chart.yaml": "apiVersion: v2\nname: latest\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.x\n  repository: " + repo.URL + "/charts\n",
		"other/Chart.yaml":  "apiVersion: v2\nname: other\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.x\n  repository: " + stranger.URL + "/charts\n",
	})
	head := rp.commit(map[string]string{"README.md": "deps"}, "readme")
	rp.push("main")
	waitRevision(t, gitRepository(t, "deps-git", srv.url("org/deps.git")), "main@sha1:"+head)
	fromGit := func(c *sourcev1.HelmChart) {
		c.Spec.SourceRef = sourcev1.LocalHelmChartSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "deps-git"}
	}
	for chart, want := range map[string]string{"app": "app/charts/redis-1.2.0.tgz", "latest": "latest/charts/redis-1.3.0.tgz"} {
		got := waitChart(t, helmChart(t, "deps-"+chart, "deps-git", chart, "", fromGit), chartAt(map[string]string{"app": "2.0.0", "latest": "1.0.0"}[chart]))
		resp, err := http.Get(got.Status.Artifact.URL)
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if files := helmtest.Files(t, served); files[want] == "" {
			t.Errorf("%s: no %s in the package", chart, want)
		}
	}
	other := waitChart(t, helmChart(t, "deps-other", "deps-git", "other", "", fromGit),
		chartFailed(metav1.ConditionFalse, sourcev1.ChartPackageFailedReason, "no HelmRepository in namespace 'default' has the URL"))
	if served := len(stranger.authz); served != 0 {
		t.Errorf("a repository no HelmRepository names got %d requests", served)
	}
	for _, e := range eventsFor(t, other) {
		if strings.Contains(e.Message, "dep-s3cret") {
			t.Errorf("the password is in an event: %s", e.Message)
		}
	}
}
