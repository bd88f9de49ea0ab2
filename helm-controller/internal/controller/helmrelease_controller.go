// Package controller reconciles HelmReleases: the chart from the HelmChart its template makes
// (or the one chartRef names), the values composed with the tenant's identity, and the release
// installed or upgraded through the Helm SDK when the chart or the values changed.
package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/helm-controller/internal/action"
	"github.com/driftless-dev/driftless/helm-controller/internal/release"
	"github.com/driftless-dev/driftless/helm-controller/internal/values"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	"github.com/driftless-dev/driftless/pkg/runtime/tracker"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// defaultDependencyRetry is how soon a release whose chart is not ready is tried again; the
// HelmChart's new artifact triggers it sooner.
const defaultDependencyRetry = 30 * time.Second

// defaultTimeout bounds each Kubernetes operation of an action when spec.timeout is zero.
const defaultTimeout = 5 * time.Minute

// releaseTimeout bounds each Kubernetes operation of the release's actions: spec.timeout, its
// default of 5m when unset or zero.
func releaseTimeout(obj *v2.HelmRelease) time.Duration {
	if t := obj.GetTimeout(); t > 0 {
		return t
	}
	return defaultTimeout
}

// HelmReleaseReconciler installs and upgrades HelmReleases.
type HelmReleaseReconciler struct {
	client.Client
	// Config is the controller's own REST config; a tenant's is this one impersonating its
	// service account.
	Config *rest.Config
	Events *events.Recorder
	// Fetcher downloads chart artifacts with their digest checked.
	Fetcher *artifact.Fetcher
	// DefaultServiceAccount is --default-service-account.
	DefaultServiceAccount string
	// WatchConfigsSelector, when set, selects the ConfigMaps and Secrets whose changes
	// reconcile the releases that read them (valuesFrom) at once.
	WatchConfigsSelector labels.Selector
	// NoCrossNamespaceRefs refuses a chart source or chartRef in another namespace.
	NoCrossNamespaceRefs bool
	DependencyRetry      time.Duration

	JitterPercent                uint8
	MinRetryDelay, MaxRetryDelay time.Duration
	Concurrent                   int

	runtime *lifecycle.Reconciler[*v2.HelmRelease, *releaseScope]
	// tracker watches the releases' objects; wake reconciles a release whose object drifted.
	tracker *tracker.Tracker
	wake    tracker.Wakeups
	// memos are the drift checks that found none, by HelmRelease (driftMemo).
	memos sync.Map
	// waiting are the channels of the waits for each release's objects (releaseReadiness).
	waitMu  sync.Mutex
	waiting map[types.NamespacedName]map[chan struct{}]bool
	// direct is the controller's own uncached client (tenantClient), made once.
	directOnce sync.Once
	direct     client.Client
	directErr  error
}

type releaseScope struct {
	*lifecycle.Scope[*v2.HelmRelease]
	// reader reads as the tenant (see tenantReader); client reads and writes as the tenant
	// without a cache (see tenantClient).
	reader client.Reader
	client client.Client
	loaded *chartv2.Chart
	values map[string]any
	digest string
	// objects are those of the release, when its inventory was recorded.
	objects []*unstructured.Unstructured
}

var releasePolicy = &lifecycle.Policy[*v2.HelmRelease]{
	Kind:         v2.HelmReleaseKind,
	Group:        v2.GroupVersion.Group,
	Conditions:   []string{v2.ReleasedCondition, v2.TestSuccessCondition, v2.RemediatedCondition, v2.DriftedCondition},
	FailedReason: meta.FailedReason,
	Ready: func(obj *v2.HelmRelease) (string, string) {
		if c := conditions.Get(obj, v2.TestSuccessCondition); c != nil && c.Status == metav1.ConditionTrue {
			return c.Reason, c.Message
		}
		if c := conditions.Get(obj, v2.ReleasedCondition); c != nil && c.Status == metav1.ConditionTrue {
			return c.Reason, c.Message
		}
		return meta.SucceededReason, "Release reconciliation succeeded"
	},
	Revision: func(obj *v2.HelmRelease) string {
		if len(obj.Status.History) > 0 {
			return obj.Status.History[0].ChartVersion
		}
		return ""
	},
	Metadata: func(obj *v2.HelmRelease) map[string]string {
		if len(obj.Status.History) == 0 {
			return nil
		}
		h := obj.Status.History[0]
		md := map[string]string{}
		if h.AppVersion != "" {
			md["app-version"] = h.AppVersion
		}
		if h.OCIDigest != "" {
			md["oci-digest"] = h.OCIDigest
		}
		return md
	},
	RetryInterval: retryInterval,
}

// SetupWithManager registers the reconciler; a HelmChart's new artifact reconciles its release
// at once.
func (r *HelmReleaseReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Config == nil {
		r.Config = mgr.GetConfig()
	}
	if r.Fetcher == nil {
		r.Fetcher = &artifact.Fetcher{}
	}
	if r.DependencyRetry <= 0 {
		r.DependencyRetry = defaultDependencyRetry
	}
	if err := crmetrics.Registry.Register(driftDetected); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
		return err
	}
	t, err := tracker.New(r.Config, mgr.GetRESTMapper(), release.NameLabel, release.NamespaceLabel,
		tracker.Handlers{Changed: r.changed, Drifted: r.drifted, FieldManager: action.FieldManager})
	if err != nil {
		return err
	}
	r.tracker = t
	if err := mgr.Add(t); err != nil {
		return err
	}
	r.runtime = &lifecycle.Reconciler[*v2.HelmRelease, *releaseScope]{
		Client:   r.Client,
		Events:   r.Events,
		Policy:   releasePolicy,
		New:      func() *v2.HelmRelease { return &v2.HelmRelease{} },
		NewScope: func(s *lifecycle.Scope[*v2.HelmRelease]) *releaseScope { return &releaseScope{Scope: s} },
		Steps: []lifecycle.Step[*releaseScope]{
			{Run: r.reconcileTarget},
			{Run: r.reconcileDependencies},
			{Run: r.reconcileChart},
			{Run: r.reconcileValues},
			{Run: r.reconcileRelease},
		},
		Finalize:      r.finalize,
		Forget:        func(key types.NamespacedName) { r.memos.Delete(key) },
		JitterPercent: r.JitterPercent,
		RateLimiter:   requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v2.HelmRelease{}, builder.WithPredicates(predicates.SpecOrRequest())).
		Watches(&sourcev1.HelmChart{}, handler.EnqueueRequestsFromMapFunc(r.releasesOfChart)).
		Watches(&sourcev1.OCIRepository{}, handler.EnqueueRequestsFromMapFunc(r.chartRefsTo(sourcev1.OCIRepositoryKind)), builder.WithPredicates(predicates.ArtifactChanged())).
		Watches(&sourcev1.ExternalArtifact{}, handler.EnqueueRequestsFromMapFunc(r.chartRefsTo(sourcev1.ExternalArtifactKind)), builder.WithPredicates(predicates.ArtifactChanged())).
		Watches(&v2.HelmRelease{}, handler.EnqueueRequestsFromMapFunc(r.dependents), builder.WithPredicates(becameReady)).
		WatchesRawSource(r.wake.Source())
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v2.HelmRelease{}, dependencyIndexKey, indexDependencies); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v2.HelmRelease{}, chartRefIndexKey, indexChartRef); err != nil {
		return err
	}
	if r.WatchConfigsSelector != nil {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v2.HelmRelease{}, valuesIndexKey, indexValues); err != nil {
			return err
		}
		for _, config := range []client.Object{&corev1.ConfigMap{}, &corev1.Secret{}} {
			b = b.Watches(config, handler.EnqueueRequestsFromMapFunc(r.valuesReaders), builder.WithPredicates(predicates.ConfigChanged(r.WatchConfigsSelector)))
		}
	}
	return b.WithOptions(r.runtime.ControllerOptions(r.Concurrent)).Complete(r)
}

// valuesIndexKey indexes HelmReleases by the '<kind>/<name>' of their valuesFrom referents.
const valuesIndexKey = ".spec.valuesFrom"

func indexValues(o client.Object) []string {
	hr := o.(*v2.HelmRelease)
	keys := make([]string, 0, len(hr.Spec.ValuesFrom))
	for _, ref := range hr.Spec.ValuesFrom {
		keys = append(keys, ref.Kind+"/"+ref.Name)
	}
	return keys
}

// valuesReaders maps a watched ConfigMap or Secret to the HelmReleases that read it.
func (r *HelmReleaseReconciler) valuesReaders(ctx context.Context, o client.Object) []reconcile.Request {
	kind := "ConfigMap"
	if _, ok := o.(*corev1.Secret); ok {
		kind = "Secret"
	}
	list := &v2.HelmReleaseList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{valuesIndexKey: kind + "/" + o.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list)
}

// releasesOfChart maps a HelmChart to the HelmRelease whose template made it (by its labels)
// and to those whose chartRef names it.
func (r *HelmReleaseReconciler) releasesOfChart(ctx context.Context, o client.Object) []reconcile.Request {
	out := r.chartRefsTo(sourcev1.HelmChartKind)(ctx, o)
	name, ns := o.GetLabels()[release.NameLabel], o.GetLabels()[release.NamespaceLabel]
	if name == "" || ns == "" {
		return out
	}
	return append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
}

// chartRefIndexKey indexes HelmReleases by the '<kind>/<namespace>/<name>' of their chartRef.
const chartRefIndexKey = ".spec.chartRef"

func indexChartRef(o client.Object) []string {
	hr := o.(*v2.HelmRelease)
	ref := hr.Spec.ChartRef
	if ref == nil {
		return nil
	}
	ns := ref.Namespace
	if ns == "" {
		ns = hr.Namespace
	}
	return []string{ref.Kind + "/" + ns + "/" + ref.Name}
}

// chartRefsTo maps a source of the kind to the HelmReleases whose chartRef names it.
func (r *HelmReleaseReconciler) chartRefsTo(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := &v2.HelmReleaseList{}
		if err := r.List(ctx, list, client.MatchingFields{chartRefIndexKey: kind + "/" + o.GetNamespace() + "/" + o.GetName()}); err != nil {
			return nil
		}
		return requestsFor(list)
	}
}

// Reconcile implements reconcile.Reconciler.
func (r *HelmReleaseReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.runtime.Reconcile(ctx, req)
}

// reconcileTarget refuses a HelmRelease meant for another cluster: installing here what was
// meant for another would be worse than nothing.
// Fails with: Stalled (ReconciliationFailed) for spec.kubeConfig.
func (r *HelmReleaseReconciler) reconcileTarget(_ context.Context, s *releaseScope) error {
	if s.Object.Spec.KubeConfig != nil {
		return lifecycle.Stalled("", meta.ReconciliationFailedReason,
			errors.New("spec.kubeConfig: releasing to a remote cluster is not supported yet; nothing was installed"))
	}
	return nil
}

// reconcileChart keeps the HelmChart of spec.chart equal to its template (or reads the
// HelmChart, OCIRepository or ExternalArtifact chartRef names) and downloads its artifact,
// digest checked. An OCIRepository's chart version gets its manifest digest as build metadata.
// Waits (ArtifactFailed) for a source without an artifact.
func (r *HelmReleaseReconciler) reconcileChart(ctx context.Context, s *releaseScope) error {
	obj := s.Object
	var key types.NamespacedName
	kind := sourcev1.HelmChartKind
	switch {
	case obj.Spec.Chart != nil:
		want := release.HelmChart(obj)
		key = client.ObjectKeyFromObject(want)
		if r.NoCrossNamespaceRefs && key.Namespace != obj.Namespace {
			return lifecycle.Stalled("", meta.AccessDeniedReason, fmt.Errorf("cross-namespace references are not allowed: the chart source is in namespace '%s'", key.Namespace))
		}
		if err := r.applyChart(ctx, want); err != nil {
			return err
		}
		obj.Status.HelmChart = key.Namespace + "/" + key.Name
	case obj.Spec.ChartRef != nil:
		key = types.NamespacedName{Namespace: obj.Spec.ChartRef.Namespace, Name: obj.Spec.ChartRef.Name}
		if key.Namespace == "" {
			key.Namespace = obj.Namespace
		}
		kind = obj.Spec.ChartRef.Kind
	default:
		return lifecycle.Stalled("", v2.InitFailedReason, errors.New("neither spec.chart nor spec.chartRef is set"))
	}
	if r.NoCrossNamespaceRefs && key.Namespace != obj.Namespace {
		return lifecycle.Stalled("", meta.AccessDeniedReason, fmt.Errorf("cross-namespace references are not allowed: the chart is in namespace '%s'", key.Namespace))
	}
	src, err := newChartSource(kind)
	if err != nil {
		return lifecycle.Stalled("", v2.InitFailedReason, err)
	}
	if err := r.Get(ctx, key, src); err != nil {
		if apierrors.IsNotFound(err) {
			return lifecycle.Waiting(meta.ArtifactFailedReason, r.DependencyRetry, "%s '%s' does not exist", kind, key)
		}
		return err
	}
	a := src.GetArtifact()
	if a == nil {
		return lifecycle.Waiting(meta.ArtifactFailedReason, r.DependencyRetry, "%s '%s' is not ready: it has no artifact yet", kind, key)
	}
	// The archive is only read here: loaded into memory, then removed.
	f, err := os.CreateTemp("", "helm-chart-*.tgz")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := r.Fetcher.Download(ctx, a.URL, a.Digest, f); err != nil {
		return lifecycle.Failed("", meta.ArtifactFailedReason, fmt.Errorf("the artifact of %s '%s': %w", kind, key, err))
	}
	loaded, err := action.LoadChart(f)
	if err != nil {
		return lifecycle.Failed("", meta.ArtifactFailedReason, fmt.Errorf("%s '%s' revision '%s' is not a chart: %w", kind, key, a.Revision, err))
	}
	if kind == sourcev1.OCIRepositoryKind {
		// The same chart version may be pushed again with other contents: the digest in the
		// version makes a new push a new release, as in Flux.
		if loaded.Metadata.Version, err = release.VersionWithDigest(loaded.Metadata.Version, a.Revision); err != nil {
			return lifecycle.Failed("", meta.ArtifactFailedReason, fmt.Errorf("%s '%s' revision '%s': %w", kind, key, a.Revision, err))
		}
	}
	s.loaded = loaded
	return nil
}

// chartSource is a kind whose artifact can be a chart.
type chartSource interface {
	client.Object
	GetArtifact() *meta.Artifact
}

// newChartSource is an empty object of a chartRef kind.
func newChartSource(kind string) (chartSource, error) {
	switch kind {
	case sourcev1.HelmChartKind:
		return &sourcev1.HelmChart{}, nil
	case sourcev1.OCIRepositoryKind:
		return &sourcev1.OCIRepository{}, nil
	case sourcev1.ExternalArtifactKind:
		return &sourcev1.ExternalArtifact{}, nil
	}
	return nil, fmt.Errorf("chartRef kind '%s' is not one of HelmChart, OCIRepository, ExternalArtifact", kind)
}

// applyChart creates the templated HelmChart, or brings its labels, annotations and spec back
// to the template's.
func (r *HelmReleaseReconciler) applyChart(ctx context.Context, want *sourcev1.HelmChart) error {
	got := &sourcev1.HelmChart{}
	err := r.Get(ctx, client.ObjectKeyFromObject(want), got)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Create(ctx, want); err != nil {
			return fmt.Errorf("creating HelmChart '%s/%s': %w", want.Namespace, want.Name, err)
		}
		return nil
	case err != nil:
		return err
	}
	// meta.Duration defeats reflect-based equality: compare what is written.
	before, _ := json.Marshal([]any{got.Labels, got.Annotations, got.Spec})
	after, _ := json.Marshal([]any{want.Labels, want.Annotations, want.Spec})
	if bytes.Equal(before, after) {
		return nil
	}
	got.Labels, got.Annotations, got.Spec = want.Labels, want.Annotations, want.Spec
	if err := r.Update(ctx, got); err != nil {
		return fmt.Errorf("updating HelmChart '%s/%s': %w", want.Namespace, want.Name, err)
	}
	return nil
}

// reconcileValues composes the values with the tenant's client.
func (r *HelmReleaseReconciler) reconcileValues(ctx context.Context, s *releaseScope) error {
	obj := s.Object
	reader, err := r.tenantReader(s)
	if err != nil {
		return err
	}
	vals, err := values.Compose(ctx, reader, obj.Namespace, obj.Spec.ValuesFrom, obj.Spec.Values)
	if err != nil {
		return lifecycle.Failed("", v2.InitFailedReason, fmt.Errorf("could not compose values: %w", err))
	}
	s.values, s.digest = vals, values.Digest(vals)
	return nil
}

// tenantReader reads for the release: the controller's cached client without an account, the
// impersonating tenantClient with one.
func (r *HelmReleaseReconciler) tenantReader(s *releaseScope) (client.Reader, error) {
	if s.reader != nil {
		return s.reader, nil
	}
	obj := s.Object
	if obj.Spec.ServiceAccountName == "" && r.DefaultServiceAccount == "" {
		s.reader = r.Client
		return s.reader, nil
	}
	c, err := r.tenantClient(s)
	if err != nil {
		return nil, err
	}
	s.reader = c
	return c, nil
}

// tenantConfig is the REST config that acts for the release: the controller's own, or one
// impersonating spec.serviceAccountName (else --default-service-account).
func (r *HelmReleaseReconciler) tenantConfig(obj *v2.HelmRelease) *rest.Config {
	cfg := rest.CopyConfig(r.Config)
	sa := obj.Spec.ServiceAccountName
	if sa == "" {
		sa = r.DefaultServiceAccount
	}
	if sa != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + obj.Namespace + ":" + sa}
	}
	return cfg
}

// runner is the Helm action runner of the release, with the tenant's identity.
func (r *HelmReleaseReconciler) runner(ctx context.Context, obj *v2.HelmRelease) (*action.Runner, error) {
	return r.runnerIn(ctx, obj, release.StorageNamespace(obj), release.TargetNamespace(obj))
}

// runnerIn is a runner with the tenant's identity for the releases stored in storage, installing
// into target.
func (r *HelmReleaseReconciler) runnerIn(ctx context.Context, obj *v2.HelmRelease, storage, target string) (*action.Runner, error) {
	log := slog.New(logr.ToSlogHandler(ctrl.LoggerFrom(ctx).WithName("helm")))
	runner, err := action.NewRunner(r.tenantConfig(obj), storage, target, log)
	if err == nil && r.tracker != nil {
		runner.SetReadiness(releaseReadiness{r: r, owner: types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}}, obj.Spec.HealthCheckExprs)
	}
	return runner, err
}

// finalize uninstalls the release and removes its HelmChart; a suspended release is left
// installed, as in Flux.
func (r *HelmReleaseReconciler) finalize(ctx context.Context, s *releaseScope) error {
	obj := s.Object
	// A suspended release stays installed; one meant for another cluster was never installed here.
	if !obj.Spec.Suspend && obj.Spec.KubeConfig == nil {
		runner, err := r.runner(ctx, obj)
		if err != nil {
			return err
		}
		if err := runner.Uninstall(release.Name(obj), uninstallOptions(obj)); err != nil && !errors.Is(err, action.ErrNotFound) {
			return fmt.Errorf("Helm uninstall failed: %w", err)
		}
	}
	if obj.Spec.Chart != nil {
		ns, name := release.ChartName(obj)
		chart := &sourcev1.HelmChart{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := r.Delete(ctx, chart); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
