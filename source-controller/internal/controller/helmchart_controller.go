package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/helm"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// helmChartSourceIndex indexes HelmCharts by '<kind>/<name>' of their source.
const helmChartSourceIndex = ".spec.sourceRef"

// sourceUnavailableReason: the chart's source does not exist or has no artifact yet.
const sourceUnavailableReason = "SourceUnavailable"

// sourceCacheIdle is how long an extracted source stays unused before it is removed.
const sourceCacheIdle = 2 * time.Minute

// defaultDependencyRetry is how soon a chart whose source is not ready is tried again; the source's
// new artifact triggers it sooner.
const defaultDependencyRetry = 30 * time.Second

// HelmChartReconciler pulls charts from HelmRepositories into artifacts that helm-controller
// installs.
type HelmChartReconciler struct {
	client.Client
	// APIReader reads Secrets from the API server, uncached.
	APIReader client.Reader
	Events    *events.Recorder
	Storage   *storage.Storage
	// Sources holds the extracted artifacts of GitRepositories and Buckets, one per digest,
	// shared by every chart of that revision; a cache in the OS's temporary directory when nil.
	Sources *artifact.Cache
	// DependencyRetry is how soon a chart whose source is not ready is tried again, besides
	// the source's new artifact triggering it (defaultDependencyRetry when zero).
	DependencyRetry time.Duration

	JitterPercent                uint8
	MinRetryDelay, MaxRetryDelay time.Duration
	Concurrent                   int

	runtime *lifecycle.Reconciler[*sourcev1.HelmChart, *helmChartScope]
}

type helmChartScope struct {
	*lifecycle.Scope[*sourcev1.HelmChart]
	rebuild bool
	// keep: the packaged chart has the stored one's version (ChartVersion strategy).
	keep bool
	// source is the repository's artifact the chart was resolved against.
	source *meta.Artifact
	// verified names the keys the chart's signature was verified with, when it was.
	verified string
	pulled   *pulledChart
	tmp      *workDir
}

// pulledChart is a downloaded (or packaged), checked chart archive, with its values files
// merged.
type pulledChart struct {
	path    string
	version helm.ChartVersion
	// valuesFiles are those merged into its values.yaml.
	valuesFiles []string
	// packaged: built from a source's files, not pulled from a repository.
	packaged bool
	// origin is what it was made from.
	origin chartOrigin
}

// chartOrigin is what a stored chart was made from, kept next to it: when the index still
// names the same archive and the spec the same values files, nothing is pulled.
type chartOrigin struct {
	Digest        string   `json:"digest"`
	ValuesFiles   []string `json:"valuesFiles,omitempty"`
	IgnoreMissing bool     `json:"ignoreMissing,omitempty"`
	Strategy      string   `json:"strategy,omitempty"`
	Chart         string   `json:"chart,omitempty"`
	// Verified names the keys its signature was verified with ('cosign:<digest of the keys>').
	Verified string `json:"verified,omitempty"`
}

var helmChartPolicy = &lifecycle.Policy[*sourcev1.HelmChart]{
	Kind:  sourcev1.HelmChartKind,
	Group: sourcev1.GroupVersion.Group,
	Conditions: []string{
		sourcev1.ArtifactInStorageCondition, sourcev1.ArtifactOutdatedCondition, sourcev1.SourceVerifiedCondition,
		sourcev1.FetchFailedCondition, sourcev1.BuildFailedCondition, sourcev1.StorageOperationFailedCondition,
	},
	Negative:     []string{sourcev1.FetchFailedCondition, sourcev1.BuildFailedCondition, sourcev1.StorageOperationFailedCondition},
	FailedReason: meta.FailedReason,
	Ready: func(obj *sourcev1.HelmChart) (string, string) {
		if len(obj.Status.ObservedValuesFiles) > 0 || obj.Spec.SourceRef.Kind != sourcev1.HelmRepositoryKind {
			return sourcev1.ChartPackageSucceededReason, fmt.Sprintf("packaged '%s' chart with version '%s'", obj.Status.ObservedChartName, helmChartRevision(obj))
		}
		return sourcev1.ChartPullSucceededReason, fmt.Sprintf("pulled '%s' chart with version '%s'", obj.Status.ObservedChartName, helmChartRevision(obj))
	},
	Revision: helmChartRevision,
}

func helmChartRevision(obj *sourcev1.HelmChart) string {
	if obj.Status.Artifact == nil {
		return ""
	}
	return obj.Status.Artifact.Revision
}

// SetupWithManager registers the reconciler; a HelmRepository's new index reconciles the
// charts from it at once.
func (r *HelmChartReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.DependencyRetry <= 0 {
		r.DependencyRetry = defaultDependencyRetry
	}
	if r.Sources == nil {
		dir, err := os.MkdirTemp("", "driftless-chart-sources-")
		if err != nil {
			return err
		}
		if r.Sources, err = artifact.NewCache(dir, &artifact.Fetcher{Limits: r.Storage.Limits}); err != nil {
			return err
		}
	}
	if err := mgr.Add(manager.RunnableFunc(r.pruneSources)); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &sourcev1.HelmChart{}, helmChartSourceIndex, func(o client.Object) []string {
		c := o.(*sourcev1.HelmChart)
		return []string{c.Spec.SourceRef.Kind + "/" + c.Spec.SourceRef.Name}
	}); err != nil {
		return err
	}
	r.runtime = &lifecycle.Reconciler[*sourcev1.HelmChart, *helmChartScope]{
		Client: r.Client,
		Events: r.Events,
		Policy: helmChartPolicy,
		New:    func() *sourcev1.HelmChart { return &sourcev1.HelmChart{} },
		NewScope: func(s *lifecycle.Scope[*sourcev1.HelmChart]) *helmChartScope {
			return &helmChartScope{Scope: s}
		},
		Steps: []lifecycle.Step[*helmChartScope]{
			{Run: r.reconcileStorage},
			{Run: r.reconcileSource, Owns: []string{sourcev1.FetchFailedCondition, sourcev1.BuildFailedCondition}},
			{Run: r.reconcileArtifact, Owns: []string{sourcev1.StorageOperationFailedCondition}},
		},
		Finalize: func(ctx context.Context, s *helmChartScope) error {
			return r.Storage.RemoveAll(sourcev1.HelmChartKind, s.Object.Namespace, s.Object.Name)
		},
		Release:       func(s *helmChartScope) { s.tmp.remove() },
		JitterPercent: r.JitterPercent,
		RateLimiter:   requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&sourcev1.HelmChart{}, builder.WithPredicates(predicates.SpecOrRequest())).
		Watches(&sourcev1.HelmRepository{}, handler.EnqueueRequestsFromMapFunc(r.chartsOf(sourcev1.HelmRepositoryKind)), builder.WithPredicates(artifactChanged)).
		Watches(&sourcev1.GitRepository{}, handler.EnqueueRequestsFromMapFunc(r.chartsOf(sourcev1.GitRepositoryKind)), builder.WithPredicates(artifactChanged)).
		Watches(&sourcev1.Bucket{}, handler.EnqueueRequestsFromMapFunc(r.chartsOf(sourcev1.BucketKind)), builder.WithPredicates(artifactChanged)).
		WithOptions(r.runtime.ControllerOptions(r.Concurrent)).
		Complete(r)
}

// chartsOf lists the HelmCharts whose source is the object.
func (r *HelmChartReconciler) chartsOf(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := &sourcev1.HelmChartList{}
		if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{helmChartSourceIndex: kind + "/" + o.GetName()}); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, c := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Name}})
		}
		return out
	}
}

// Reconcile keeps a HelmChart's artifact the chart its source resolves to.
func (r *HelmChartReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.runtime.Reconcile(ctx, req)
}

// reconcileStorage checks the recorded artifact against storage; a missing or corrupt one is
// pulled or packaged again.
func (r *HelmChartReconciler) reconcileStorage(ctx context.Context, s *helmChartScope) error {
	s.rebuild = checkStored(ctx, r.Storage, s.Object, &s.Object.Status.Artifact, "pulling it again")
	return nil
}

// reconcileSource resolves the chart's version in its source and pulls it when it is not the
// stored one.
// Fails with: FetchFailed (AuthenticationFailed, ChartPullFailed), BuildFailed (a chart archive
// that is not one); Stalled InvalidChartReference for a version that cannot be a range; waits
// (SourceUnavailable) for a source without an artifact.
func (r *HelmChartReconciler) reconcileSource(ctx context.Context, s *helmChartScope) error {
	obj := s.Object
	switch obj.Spec.SourceRef.Kind {
	case sourcev1.HelmRepositoryKind:
	case sourcev1.GitRepositoryKind, sourcev1.BucketKind:
		return r.reconcileArtifactSource(ctx, s)
	default:
		return lifecycle.Stalled(sourcev1.BuildFailedCondition, sourcev1.InvalidChartReferenceReason,
			fmt.Errorf("sourceRef kind '%s' is not HelmRepository, GitRepository or Bucket", obj.Spec.SourceRef.Kind))
	}
	repo := &sourcev1.HelmRepository{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.SourceRef.Name}, repo); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return lifecycle.Waiting(sourceUnavailableReason, r.DependencyRetry, "HelmRepository '%s' does not exist", obj.Spec.SourceRef.Name)
		}
		return err
	}
	var (
		version helm.ChartVersion
		pull    func(path string) error
		err     error
	)
	if obj.Spec.Verify == nil || repo.Spec.Type != sourcev1.HelmRepositoryTypeOCI {
		// As in Flux, only charts from 'oci' HelmRepositories are verified.
		conditions.Delete(obj, sourcev1.SourceVerifiedCondition)
	}
	if repo.Spec.Type == sourcev1.HelmRepositoryTypeOCI {
		if version, pull, err = r.ociChart(ctx, s, repo); err != nil {
			return err
		}
	} else {
		if version, err = r.indexChart(obj, repo); err != nil {
			return err
		}
		s.source = repo.Status.Artifact
		pull = func(path string) error { return r.pull(ctx, repo, version, path) }
	}
	origin := chartOrigin{Digest: version.Digest, ValuesFiles: obj.Spec.ValuesFiles, IgnoreMissing: obj.Spec.IgnoreMissingValuesFiles, Verified: s.verified}
	if a := obj.Status.Artifact; a != nil && !s.rebuild && a.Revision == version.Version &&
		obj.Status.ObservedChartName == obj.Spec.Chart && version.Digest != "" && r.origin(*a).equal(origin) {
		return nil // the stored chart is the one the repository names, with the same values
	}
	tmp, err := newWorkDir("", obj)
	if err != nil {
		return err
	}
	s.tmp = tmp
	path := tmp.path("chart.tgz")
	if err := pull(path); err != nil {
		return err
	}
	s.pulled = &pulledChart{path: path, version: version, origin: origin}
	if len(obj.Spec.ValuesFiles) > 0 {
		packaged := tmp.path("packaged.tgz")
		used, err := mergeValuesFiles(path, packaged, obj.Spec.ValuesFiles, obj.Spec.IgnoreMissingValuesFiles)
		if err != nil {
			return lifecycle.Failed(sourcev1.BuildFailedCondition, sourcev1.ChartPackageFailedReason, fmt.Errorf("chart '%s' version '%s': %w", version.Name, version.Version, err))
		}
		s.pulled.path, s.pulled.valuesFiles = packaged, used
	}
	return nil
}

// indexChart resolves the chart's version in an HTTP HelmRepository's stored index.
func (r *HelmChartReconciler) indexChart(obj *sourcev1.HelmChart, repo *sourcev1.HelmRepository) (helm.ChartVersion, error) {
	version, err := lookupVersion(r.Storage, repo, obj.Spec.Chart, obj.Spec.Version)
	switch {
	case err == nil:
		return version, nil
	case errors.Is(err, errNoIndex):
		return helm.ChartVersion{}, lifecycle.Waiting(sourceUnavailableReason, r.DependencyRetry, "%s", err)
	case errors.Is(err, helm.ErrInvalidVersion):
		return helm.ChartVersion{}, lifecycle.Stalled(sourcev1.BuildFailedCondition, sourcev1.InvalidChartReferenceReason, err)
	case errors.Is(err, errNotInIndex), errors.Is(err, helm.ErrNoMatch):
		return helm.ChartVersion{}, lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.ChartPullFailedReason, err)
	}
	return helm.ChartVersion{}, err
}

var (
	errNoIndex    = errors.New("has no index yet")
	errNotInIndex = errors.New("is not in the index")
)

// lookupVersion finds the version of chart that constraint picks in an HTTP repository's stored
// index (through its lookup on disk): errNoIndex before the first index, errNotInIndex for a
// chart it does not list, helm.ErrInvalidVersion or helm.ErrNoMatch from the selection.
func lookupVersion(st *storage.Storage, repo *sourcev1.HelmRepository, chart, constraint string) (helm.ChartVersion, error) {
	if repo.Status.Artifact == nil {
		return helm.ChartVersion{}, fmt.Errorf("HelmRepository '%s' %w", repo.Name, errNoIndex)
	}
	lookup, err := LookupDir(st, *repo.Status.Artifact)
	if err != nil {
		return helm.ChartVersion{}, err
	}
	versions, err := helm.Lookup(lookup, chart)
	if err != nil {
		return helm.ChartVersion{}, fmt.Errorf("chart '%s' %w of HelmRepository '%s'", chart, errNotInIndex, repo.Name)
	}
	version, err := helm.SelectVersion(versions, constraint)
	if err != nil {
		return helm.ChartVersion{}, fmt.Errorf("chart '%s': %w", chart, err)
	}
	return version, nil
}

// reconcileArtifactSource packages the chart at spec.chart in a GitRepository's or Bucket's
// artifact, read from this controller's own storage (its digest checked) and extracted with
// the limits of every artifact. With reconcileStrategy Revision the version gets
// '+<12 characters of the source revision>', as in Flux; with ChartVersion (the default) a new
// source revision replaces the artifact only when the chart's version or values files change.
func (r *HelmChartReconciler) reconcileArtifactSource(ctx context.Context, s *helmChartScope) error {
	obj := s.Object
	key := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.SourceRef.Name}
	var src interface {
		client.Object
		GetArtifact() *meta.Artifact
	}
	if obj.Spec.SourceRef.Kind == sourcev1.GitRepositoryKind {
		src = &sourcev1.GitRepository{}
	} else {
		src = &sourcev1.Bucket{}
	}
	if err := r.Get(ctx, key, src); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return lifecycle.Waiting(sourceUnavailableReason, r.DependencyRetry, "%s '%s' does not exist", obj.Spec.SourceRef.Kind, key.Name)
		}
		return err
	}
	a := src.GetArtifact()
	if a == nil {
		return lifecycle.Waiting(sourceUnavailableReason, r.DependencyRetry, "%s '%s' has no artifact yet", obj.Spec.SourceRef.Kind, key.Name)
	}
	s.source = a
	origin := chartOrigin{Digest: a.Digest, ValuesFiles: obj.Spec.ValuesFiles, IgnoreMissing: obj.Spec.IgnoreMissingValuesFiles, Strategy: obj.Spec.ReconcileStrategy, Chart: obj.Spec.Chart}
	if cur := obj.Status.Artifact; cur != nil && !s.rebuild && r.origin(*cur).equal(origin) {
		return nil // built from this very artifact with these settings
	}
	tmp, err := newWorkDir("", obj)
	if err != nil {
		return err
	}
	s.tmp = tmp
	// One extraction per source revision, whatever the number of charts in it.
	root, release, err := r.Sources.Acquire(ctx, a.URL, a.Digest)
	if err != nil {
		return lifecycle.Waiting(sourceUnavailableReason, r.DependencyRetry, "the artifact of %s '%s' cannot be read: %v", obj.Spec.SourceRef.Kind, key.Name, err)
	}
	defer release()
	chartPath := filepath.Clean("/" + obj.Spec.Chart) // confined below the root
	build := ""
	if obj.Spec.ReconcileStrategy == sourcev1.ReconcileStrategyRevision {
		build = revisionSuffix(a.Revision)
	}
	path := tmp.path("chart.tgz")
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	meta, err := helm.PackageDir(root, filepath.Join(root, chartPath), out, helm.PackageOptions{Build: build, Remote: r.remoteDependencies(ctx, obj, tmp)})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return lifecycle.Failed(sourcev1.BuildFailedCondition, sourcev1.ChartPackageFailedReason, fmt.Errorf("chart '%s': %w", obj.Spec.Chart, err))
	}
	s.pulled = &pulledChart{path: path, version: helm.ChartVersion{Name: meta.Name, Version: meta.Version}, origin: origin}
	if len(obj.Spec.ValuesFiles) > 0 {
		packaged := tmp.path("packaged.tgz")
		used, err := mergeValuesFiles(path, packaged, obj.Spec.ValuesFiles, obj.Spec.IgnoreMissingValuesFiles)
		if err != nil {
			return lifecycle.Failed(sourcev1.BuildFailedCondition, sourcev1.ChartPackageFailedReason, fmt.Errorf("chart '%s': %w", obj.Spec.Chart, err))
		}
		s.pulled.path, s.pulled.valuesFiles = packaged, used
	}
	s.pulled.packaged = true
	// ChartVersion: the same version from a new source revision keeps the stored chart.
	if cur := obj.Status.Artifact; cur != nil && !s.rebuild && obj.Spec.ReconcileStrategy != sourcev1.ReconcileStrategyRevision &&
		cur.Revision == meta.Version && obj.Status.ObservedChartName == obj.Spec.Chart &&
		slices.Equal(obj.Status.ObservedValuesFiles, s.pulled.valuesFiles) {
		s.keep = true
	}
	return nil
}

// pruneSources removes, every minute, the extracted sources that no chart's source points at
// any more (or that nobody used for sourceCacheIdle).
func (r *HelmChartReconciler) pruneSources(ctx context.Context) error {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		keep := map[string]bool{}
		for _, list := range []client.ObjectList{&sourcev1.GitRepositoryList{}, &sourcev1.BucketList{}} {
			if err := r.List(ctx, list); err != nil {
				continue
			}
			_ = apimeta.EachListItem(list, func(o runtime.Object) error {
				if a := o.(interface{ GetArtifact() *meta.Artifact }).GetArtifact(); a != nil {
					keep[a.Digest] = true
				}
				return nil
			})
		}
		r.Sources.Prune(keep, sourceCacheIdle)
	}
}

// revisionSuffix is the build metadata a Revision strategy adds: 12 characters of the source
// revision's commit or digest.
func revisionSuffix(revision string) string {
	if i := strings.LastIndex(revision, ":"); i >= 0 {
		revision = revision[i+1:]
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	return revision
}

// mergeValuesFiles repackages the chart at src into dst with the values files merged.
func mergeValuesFiles(src, dst string, files []string, ignoreMissing bool) ([]string, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	used, err := helm.MergeValues(in, out, files, ignoreMissing)
	if err != nil {
		return nil, err
	}
	return used, out.Close()
}

func (o chartOrigin) equal(p chartOrigin) bool {
	return o.Digest == p.Digest && o.IgnoreMissing == p.IgnoreMissing && slices.Equal(o.ValuesFiles, p.ValuesFiles) &&
		o.Strategy == p.Strategy && o.Chart == p.Chart && o.Verified == p.Verified
}

// origin reads what the stored chart was made from.
func (r *HelmChartReconciler) origin(a meta.Artifact) chartOrigin {
	var o chartOrigin
	loadSidecar(r.Storage, a, "chart-origin.json", &o)
	return o
}

func (r *HelmChartReconciler) saveOrigin(a meta.Artifact, o chartOrigin) error {
	return saveSidecar(r.Storage, a, "chart-origin.json", o)
}

// pull downloads the chart version's archive, checks its digest against the index's, and
// reads it as untrusted input.
func (r *HelmChartReconciler) pull(ctx context.Context, repo *sourcev1.HelmRepository, v helm.ChartVersion, path string) error {
	if len(v.URLs) == 0 {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.ChartPullFailedReason, fmt.Errorf("chart '%s' version '%s' has no URL in the index", v.Name, v.Version))
	}
	base, err := url.Parse(strings.TrimSuffix(repo.Spec.URL, "/") + "/")
	if err != nil {
		return lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.URLInvalidReason, errors.New("the HelmRepository's URL is not valid"))
	}
	ref, err := url.Parse(v.URLs[0])
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.ChartPullFailedReason, fmt.Errorf("chart '%s' version '%s' has an invalid URL in the index", v.Name, v.Version))
	}
	chartURL := base.ResolveReference(ref)
	if chartURL.Scheme != "http" && chartURL.Scheme != "https" {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.ChartPullFailedReason, fmt.Errorf("chart '%s' version '%s': the index's URL is not http(s)", v.Name, v.Version))
	}
	httpClient, user, pass, secrets, err := helmClient(ctx, r.APIReader, repo)
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.AuthenticationFailedReason, err)
	}
	ctx, cancel := context.WithTimeout(ctx, repo.GetTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, chartURL.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", userAgent)
	// Credentials go to the repository's own host only, unless passCredentials says otherwise.
	if (user != "" || pass != "") && (chartURL.Host == base.Host || repo.Spec.PassCredentials) {
		req.SetBasicAuth(user, pass)
	}
	shown := redact.URL(chartURL.String())
	resp, err := httpClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.ChartPullFailedReason,
			redact.Error(fmt.Errorf("failed to pull chart '%s' from '%s': %w", v.Name, shown, err), secrets...))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.ChartPullFailedReason,
			fmt.Errorf("failed to pull chart '%s' from '%s': %s", v.Name, shown, resp.Status))
	}
	digest, err := downloadFile(resp.Body, path, helm.MaxChartBytes, "the chart")
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.ChartPullFailedReason,
			redact.Error(fmt.Errorf("failed to pull chart '%s' from '%s': %w", v.Name, shown, err), secrets...))
	}
	if v.Digest != "" && strings.TrimPrefix(digest, "sha256:") != strings.ToLower(v.Digest) {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.ChartPullFailedReason,
			fmt.Errorf("chart '%s' version '%s': the archive's digest %s is not the index's sha256:%s", v.Name, v.Version, digest, v.Digest))
	}
	return checkPulledChart(path, v)
}

// checkPulledChart reads a pulled archive as untrusted input: a chart, and the version asked for.
func checkPulledChart(path string, v helm.ChartVersion) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	meta, err := helm.CheckChart(f)
	if err != nil {
		return lifecycle.Failed(sourcev1.BuildFailedCondition, sourcev1.ChartPullFailedReason, fmt.Errorf("chart '%s' version '%s': %w", v.Name, v.Version, err))
	}
	if meta.Name != v.Name || meta.Version != v.Version {
		return lifecycle.Failed(sourcev1.BuildFailedCondition, sourcev1.ChartPullFailedReason,
			fmt.Errorf("the archive of chart '%s' version '%s' holds chart '%s' version '%s'", v.Name, v.Version, meta.Name, meta.Version))
	}
	return nil
}

// reconcileArtifact stores a pulled chart as '<chart>-<version>.tgz', or confirms the current one.
// Sets: ArtifactInStorage. Fails with: StorageOperationFailed.
func (r *HelmChartReconciler) reconcileArtifact(ctx context.Context, s *helmChartScope) error {
	obj, p := s.Object, s.pulled
	if p != nil && s.keep {
		// Record that the stored chart stands for this source revision too.
		if err := r.saveOrigin(*obj.Status.Artifact, p.origin); err != nil {
			return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
		}
		p = nil
	}
	if p != nil {
		artifact := r.Storage.NewArtifact(sourcev1.HelmChartKind, obj.Namespace, obj.Name, p.version.Version, p.version.Name+"-"+p.version.Version+".tgz")
		if err := r.Storage.Store(&artifact, func(w io.Writer) error { return copyFile(w, p.path) }); err != nil {
			return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
		}
		if err := r.saveOrigin(artifact, p.origin); err != nil {
			return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
		}
		previous := obj.Status.Artifact
		obj.Status.Artifact = &artifact
		obj.Status.ObservedChartName = obj.Spec.Chart
		obj.Status.ObservedValuesFiles = p.valuesFiles
		if !previous.HasRevision(artifact.Revision) || previous.Digest != artifact.Digest {
			if len(p.valuesFiles) > 0 || p.packaged {
				s.Announce(sourcev1.ChartPackageSucceededReason, "packaged '%s' chart with version '%s'", p.version.Name, p.version.Version)
			} else {
				s.Announce(sourcev1.ChartPullSucceededReason, "pulled '%s' chart with version '%s'", p.version.Name, p.version.Version)
			}
		}
	}
	if s.source != nil {
		obj.Status.ObservedSourceArtifactRevision = s.source.Revision
	}
	a := *obj.Status.Artifact
	link, err := publish(ctx, r.Storage, obj, a, "latest.tgz", fmt.Sprintf("stored artifact: revision '%s'", a.Revision))
	if err != nil {
		return err
	}
	obj.Status.URL = link
	return nil
}
