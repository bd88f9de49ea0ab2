package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	"github.com/driftless-dev/driftless/pkg/runtime/tracker"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// KustomizationReconciler builds Kustomizations from their sources' artifacts and applies
// the result with server-side apply.
type KustomizationReconciler struct {
	client.Client
	// APIReader reads from the API server, bypassing the cache.
	APIReader client.Reader
	// Config and Mapper build the tracker's informers, and the default Impersonator's clients.
	Config *rest.Config
	Mapper apimeta.RESTMapper
	// Impersonator makes the clients that apply on a Kustomization's behalf; by default, the
	// controller's own client, or one impersonating spec.serviceAccountName.
	Impersonator Impersonator

	Events    *events.Recorder
	Artifacts *artifact.Cache

	// FieldManager is the server-side apply field manager (kustomize-controller).
	FieldManager string
	// OverrideManagers are field managers whose ownership is removed on apply, as kubectl's is.
	OverrideManagers []string
	// ConcurrentSSA is how many objects of one Kustomization are dry-run at once.
	ConcurrentSSA int

	// WatchConfigsSelector, when set, selects the ConfigMaps and Secrets whose changes
	// reconcile the Kustomizations that read them at once (--watch-configs-label-selector).
	WatchConfigsSelector labels.Selector

	// SOPSAgeSecret is a Secret (in the controller's namespace) whose age keys decrypt for
	// every Kustomization with spec.decryption, besides its own (--sops-age-secret).
	SOPSAgeSecret types.NamespacedName

	// AllowRemoteBases lets kustomizations name remote bases and files, which kustomize
	// fetches itself (--no-remote-bases=false).
	AllowRemoteBases bool

	// StrictSubstitutions makes a postBuild variable that is not defined and has no default
	// an error (the StrictPostBuildSubstitutions feature gate).
	StrictSubstitutions bool

	NoCrossNamespaceRefs  bool
	DefaultServiceAccount string

	JitterPercent                uint8
	MinRetryDelay, MaxRetryDelay time.Duration
	RequeueDependency            time.Duration
	Concurrent                   int

	// WatchDrift corrects drift as soon as the tracker sees it, instead of at the next
	// interval: at most once per DriftCorrectionGap for one object.
	WatchDrift         bool
	DriftCorrectionGap time.Duration
	// VerifyInterval is how long the fast path may rest on the tracker: the first reconcile
	// this long after a Kustomization's objects were last compared with the API server
	// compares them all again, whatever the tracker shows (a LIST of their metadata per kind
	// and namespace, and a dry-run of each one whose write history changed). Zero compares
	// at every reconcile.
	VerifyInterval time.Duration
	// SweepInterval is how often informers and clients that no Kustomization needs any more
	// are released (default 5 minutes).
	SweepInterval time.Duration

	runtime  *lifecycle.Reconciler[*kustomizev1.Kustomization, *kustomizationScope]
	tracker  *tracker.Tracker
	wake     tracker.Wakeups
	log      logr.Logger
	driftMu  sync.Mutex
	drifts   map[types.NamespacedName]driftCorrection
	pruning  sync.Map // types.NamespacedName → struct{}, while the Kustomization deletes objects
	applying sync.Map // types.NamespacedName → time.Time it started, while the Kustomization applies
	managers sync.Map // service account ("" = the controller's own identity) → *ssa.ResourceManager
	memos    sync.Map // types.NamespacedName → *memo
	waits    sync.Map // types.NamespacedName → *healthWait
}

// kustomizationScope is what one reconcile's steps find and pass on.
type kustomizationScope struct {
	*lifecycle.Scope[*kustomizev1.Kustomization]
	// artifact is the source's current artifact (reconcileSource).
	artifact *meta.Artifact
	// resources applies with the Kustomization's identity (reconcileIdentity).
	resources *ssa.ResourceManager
	// reader reads on the Kustomization's behalf, from the API server: as its account
	// when it has one (reconcileIdentity).
	reader client.Reader
	// changed is set when the apply created, changed or deleted objects (reconcileApply).
	changed bool
}

// SetupWithManager registers the reconciler. Sources are watched through an index on
// spec.sourceRef, so that a new artifact revision reconciles its Kustomizations at once;
// dependents are reconciled as soon as a dependency becomes ready; and the objects a
// Kustomization waits for wake it when they change.
func (r *KustomizationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	ctx := context.Background()
	if err := mgr.GetFieldIndexer().IndexField(ctx, &kustomizev1.Kustomization{}, sourceIndexKey, indexSource); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &kustomizev1.Kustomization{}, dependencyIndexKey, indexDependencies); err != nil {
		return err
	}
	if r.FieldManager == "" {
		r.FieldManager = "kustomize-controller"
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Config == nil {
		r.Config = mgr.GetConfig()
	}
	if r.Mapper == nil {
		r.Mapper = mgr.GetRESTMapper()
	}
	if r.Impersonator == nil {
		r.Impersonator = &RESTImpersonator{Client: r.Client, Config: r.Config, Mapper: r.Mapper}
	}
	r.log = mgr.GetLogger().WithName("drift")
	r.drifts = map[types.NamespacedName]driftCorrection{}
	if err := crmetrics.Registry.Register(driftDetected); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
		return err
	}
	handlers := tracker.Handlers{Changed: r.wakeUp, FieldManager: r.FieldManager}
	if r.WatchDrift {
		handlers.Drifted = r.drifted
	}
	t, err := tracker.New(r.Config, r.Mapper, kustomizev1.NameLabel, kustomizev1.NamespaceLabel, handlers)
	if err != nil {
		return err
	}
	r.tracker = t
	if err := mgr.Add(t); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(r.sweeper)); err != nil {
		return err
	}

	r.runtime = &lifecycle.Reconciler[*kustomizev1.Kustomization, *kustomizationScope]{
		Client: r.Client,
		Events: r.Events,
		Policy: kustomizationPolicy,
		New:    func() *kustomizev1.Kustomization { return &kustomizev1.Kustomization{} },
		NewScope: func(s *lifecycle.Scope[*kustomizev1.Kustomization]) *kustomizationScope {
			return &kustomizationScope{Scope: s}
		},
		Steps: []lifecycle.Step[*kustomizationScope]{
			{Run: r.reconcileTarget},
			{Run: r.reconcileSource},
			{Run: r.reconcileIdentity},
			{Run: r.reconcileDependencies},
			{Run: r.reconcileApply},
			{Run: r.reconcileHealth},
		},
		Finalize:      r.finalize,
		Forget:        r.forget,
		JitterPercent: r.JitterPercent,
		RateLimiter:   requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}

	b := ctrl.NewControllerManagedBy(mgr).
		For(&kustomizev1.Kustomization{}, builder.WithPredicates(predicates.SpecOrRequest())).
		Watches(&kustomizev1.Kustomization{}, handler.EnqueueRequestsFromMapFunc(r.dependents), builder.WithPredicates(readinessChanged)).
		WatchesRawSource(r.wake.Source())
	for _, src := range []client.Object{&sourcev1.GitRepository{}, &sourcev1.OCIRepository{}, &sourcev1.Bucket{}, &sourcev1.ExternalArtifact{}} {
		b = b.Watches(src, handler.EnqueueRequestsFromMapFunc(r.referrers), builder.WithPredicates(predicates.ArtifactChanged()))
	}
	if r.WatchConfigsSelector != nil {
		if err := mgr.GetFieldIndexer().IndexField(ctx, &kustomizev1.Kustomization{}, configIndexKey, indexConfigs); err != nil {
			return err
		}
		for _, config := range []client.Object{&corev1.ConfigMap{}, &corev1.Secret{}} {
			b = b.Watches(config, handler.EnqueueRequestsFromMapFunc(r.configReferrers), builder.WithPredicates(predicates.ConfigChanged(r.WatchConfigsSelector)))
		}
	}
	return b.WithOptions(r.runtime.ControllerOptions(r.Concurrent)).Complete(r)
}

// Reconcile makes the cluster match one Kustomization's build. Drift seen from here on needs
// a reconcile after this one.
func (r *KustomizationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.reconcileStarted(req.NamespacedName)
	return r.runtime.Reconcile(ctx, req)
}

// reconcileTarget refuses a Kustomization meant for another cluster: applying to this cluster
// what was meant for another would be worse than nothing.
// Fails with: Stalled (ReconciliationFailed) for spec.kubeConfig.
func (r *KustomizationReconciler) reconcileTarget(_ context.Context, s *kustomizationScope) error {
	if s.Object.Spec.KubeConfig != nil {
		return lifecycle.Stalled("", meta.ReconciliationFailedReason,
			errors.New("spec.kubeConfig: applying to a remote cluster is not supported yet; nothing was applied"))
	}
	return nil
}

// forget drops what the controller remembers about a Kustomization.
func (r *KustomizationReconciler) forget(key types.NamespacedName) {
	r.memos.Delete(key)
	r.waits.Delete(key)
	r.driftMu.Lock()
	delete(r.drifts, key)
	r.driftMu.Unlock()
	driftDetected.DeletePartialMatch(prometheus.Labels{"name": key.Name, "namespace": key.Namespace})
	r.pruning.Delete(key)
	r.tracker.Interest(key, false)
}
