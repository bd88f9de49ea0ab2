package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/tracker"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/patch"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// KustomizationReconciler builds Kustomizations from their sources' artifacts and applies
// the result with server-side apply.
type KustomizationReconciler struct {
	client.Client
	// APIReader reads from the API server, bypassing the cache.
	APIReader client.Reader
	// Config and Mapper build the clients that impersonate spec.serviceAccountName.
	Config *rest.Config
	Mapper apimeta.RESTMapper

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

	// afterApply, set by tests, runs after the objects were applied and before the outcome
	// is recorded.
	afterApply func(key types.NamespacedName)

	tracker  *tracker.Tracker
	wake     chan event.GenericEvent
	log      logr.Logger
	driftMu  sync.Mutex
	drifts   map[types.NamespacedName]driftCorrection
	pruning  sync.Map // types.NamespacedName → struct{}, while the Kustomization deletes objects
	applying sync.Map // types.NamespacedName → struct{}, while the Kustomization applies
	managers sync.Map // service account ("" = the controller's own identity) → *ssa.ResourceManager
	memos    sync.Map // types.NamespacedName → *memo
	waits    sync.Map // types.NamespacedName → *healthWait
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
	r.wake = make(chan event.GenericEvent, 1024)
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

	b := ctrl.NewControllerManagedBy(mgr).
		For(&kustomizev1.Kustomization{}, builder.WithPredicates(predicates.SpecOrRequest())).
		Watches(&kustomizev1.Kustomization{}, handler.EnqueueRequestsFromMapFunc(r.dependents), builder.WithPredicates(readinessChanged)).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{}))
	for _, src := range []client.Object{&sourcev1.GitRepository{}, &sourcev1.OCIRepository{}, &sourcev1.Bucket{}} {
		b = b.Watches(src, handler.EnqueueRequestsFromMapFunc(r.referrers), builder.WithPredicates(revisionChanged))
	}
	if r.WatchConfigsSelector != nil {
		if err := mgr.GetFieldIndexer().IndexField(ctx, &kustomizev1.Kustomization{}, configIndexKey, indexConfigs); err != nil {
			return err
		}
		for _, config := range []client.Object{&corev1.ConfigMap{}, &corev1.Secret{}} {
			b = b.Watches(config, handler.EnqueueRequestsFromMapFunc(r.configReferrers), builder.WithPredicates(configChanged(r.WatchConfigsSelector)))
		}
	}
	return b.WithOptions(controller.Options{
		MaxConcurrentReconciles: r.Concurrent,
		RateLimiter:             requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}).Complete(r)
}

// wakeUp enqueues a Kustomization whose objects changed while it waits for their health.
func (r *KustomizationReconciler) wakeUp(owner types.NamespacedName) {
	ks := &kustomizev1.Kustomization{}
	ks.Name, ks.Namespace = owner.Name, owner.Namespace
	r.wake <- event.GenericEvent{Object: ks}
}

// drifted schedules the reconcile of a Kustomization one of whose objects drifted: at once,
// unless a drift correction of the same Kustomization is pending (it will see this drift too)
// or the same object drifted less than DriftCorrectionGap ago, so that a writer fighting over
// a field costs one apply per gap. Only the objects of the last apply can drift, and the
// deletions the controller makes itself (prune, garbage collection) are not drift.
func (r *KustomizationReconciler) drifted(d tracker.Drift) {
	if !r.expected(d) {
		return
	}
	cause := "changed"
	if d.Deleted {
		cause = "deleted"
	}
	driftDetected.WithLabelValues(d.Owner.Name, d.Owner.Namespace, cause).Inc()
	now := time.Now()
	r.driftMu.Lock()
	c := r.drifts[d.Owner]
	if c.pending {
		r.driftMu.Unlock()
		return
	}
	if c.last == nil {
		c.last = map[string]time.Time{}
	}
	at := now
	id := driftID(d)
	for o, t := range c.last {
		if t.Add(r.DriftCorrectionGap).Before(now) {
			delete(c.last, o)
		} else if o == id {
			at = t.Add(r.DriftCorrectionGap)
		}
	}
	c.last[id], c.pending = at, true
	r.drifts[d.Owner] = c
	r.driftMu.Unlock()
	r.log.Info("drift detected, correcting", "kustomization", d.Owner.String(), "object", d.String(), "after", at.Sub(now).Round(time.Millisecond).String())
	time.AfterFunc(at.Sub(now), func() { r.wakeUp(d.Owner) })
}

// driftDetected counts the drift the watch saw, by Kustomization and cause (an applied object
// "deleted", or "changed" by another writer): a steady rise names a writer fighting Git.
var driftDetected = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "driftless_kustomize_drift_detected_total",
	Help: "Drift of applied objects seen by the watch, by Kustomization and cause (deleted, changed).",
}, []string{"name", "namespace", "cause"})

// driftCorrection is the state of a Kustomization's drift corrections.
type driftCorrection struct {
	// pending is set from a drift until the next reconcile starts.
	pending bool
	// last is when each object that drifted recently was corrected, by inventory id.
	last map[string]time.Time
}

// reconcileStarted ends a pending drift correction: drift seen after this moment needs
// another reconcile.
func (r *KustomizationReconciler) reconcileStarted(key types.NamespacedName) {
	r.driftMu.Lock()
	defer r.driftMu.Unlock()
	if c, ok := r.drifts[key]; ok && c.pending {
		c.pending = false
		r.drifts[key] = c
	}
}

// expected reports whether the object is one its owner wants as applied: it is in the last
// apply, and, when deleted, the owner is not pruning. Before a Kustomization's first apply
// is remembered (it is new, or the controller restarted), that apply verifies every object
// anyway: only drift while it runs, which may follow the verification, is expected. A
// suspended Kustomization expects nothing.
func (r *KustomizationReconciler) expected(d tracker.Drift) bool {
	if _, ok := r.pruning.Load(d.Owner); ok && d.Deleted {
		return false
	}
	ks := &kustomizev1.Kustomization{}
	if err := r.Get(context.Background(), d.Owner, ks); err != nil || ks.Spec.Suspend {
		return false
	}
	v, ok := r.memos.Load(d.Owner)
	if !ok {
		_, applying := r.applying.Load(d.Owner)
		return applying
	}
	_, ok = v.(*memo).objects[driftID(d)]
	return ok
}

// driftID is the inventory id of the object that drifted.
func driftID(d tracker.Drift) string {
	return inventoryID(object.ObjMetadata{Namespace: d.Object.Namespace, Name: d.Object.Name, GroupKind: d.GVK.GroupKind()})
}

// Reconcile makes the cluster match one Kustomization's build.
func (r *KustomizationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	r.reconcileStarted(req.NamespacedName)
	obj := &kustomizev1.Kustomization{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	wasFailing := conditions.IsFalse(obj, meta.ReadyCondition)
	end := lifecycle.End{
		Patcher: patch.NewStatusPatcher(obj, r.Client), Kind: kustomizev1.KustomizationKind, Start: start,
		JitterPercent: r.JitterPercent, RetryInterval: obj.GetRetryInterval(),
		Summarize: func(err error) { summarize(obj, err) },
	}
	defer end.Finish(ctx, obj, &result, &retErr)
	defer func() { r.announce(ctx, obj, wasFailing, start, retErr) }()

	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, obj)
	}
	controllerutil.AddFinalizer(obj, meta.Finalizer)
	if obj.Spec.Suspend {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	if obj.Spec.KubeConfig != nil {
		// Applying to this cluster what was meant for another would be worse than nothing.
		msg := "spec.kubeConfig: applying to a remote cluster is not supported yet; nothing was applied"
		conditions.MarkStalled(obj, meta.ReconciliationFailedReason, "%s", msg)
		conditions.MarkFalse(obj, meta.ReadyCondition, meta.ReconciliationFailedReason, "%s", msg)
		return ctrl.Result{}, reconcile.TerminalError(errors.New(msg))
	}
	src, err := r.reconcileSource(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	if src == nil { // not ready yet: reported in the status, retried after --requeue-dependency
		return ctrl.Result{RequeueAfter: r.RequeueDependency}, nil
	}
	if ready, err := r.reconcileDependencies(ctx, obj, src); err != nil || !ready {
		return ctrl.Result{RequeueAfter: r.RequeueDependency}, err
	}
	resources, err := r.resourceManager(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	changed, err := r.reconcileApply(ctx, obj, src, resources)
	if err != nil {
		return ctrl.Result{}, err
	}
	return r.reconcileHealth(ctx, obj, src, changed)
}

// announce logs the outcome and emits the events a user watches: a warning with the reason
// of a failure, and a notice when a failing Kustomization recovers. (A first success is
// announced by its change-set event.)
func (r *KustomizationReconciler) announce(ctx context.Context, obj *kustomizev1.Kustomization, wasFailing bool, start time.Time, err error) {
	log := ctrl.LoggerFrom(ctx)
	revision := map[string]string{kustomizev1.GroupVersion.Group + "/revision": obj.Status.LastAttemptedRevision}
	switch {
	case err != nil:
		reason := meta.ReconciliationFailedReason
		if c := conditions.Get(obj, meta.ReadyCondition); c != nil && c.Status == "False" {
			reason = c.Reason
		}
		r.Events.AnnotatedEventf(obj, revision, corev1.EventTypeWarning, reason, "%s", err.Error())
	case conditions.IsReady(obj):
		msg := fmt.Sprintf("Reconciliation finished in %s, next run in %s", time.Since(start).Round(time.Millisecond), obj.Spec.Interval.Duration)
		log.Info(msg, "revision", obj.Status.LastAppliedRevision)
		if wasFailing {
			r.Events.AnnotatedEventf(obj, revision, corev1.EventTypeNormal, meta.ReconciliationSucceededReason, "%s", msg)
		}
	}
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

// resourceManager returns the server-side apply manager acting with the identity of the
// Kustomization's service account (or --default-service-account), or with the controller's
// own. A service account that does not exist is an error.
func (r *KustomizationReconciler) resourceManager(ctx context.Context, obj *kustomizev1.Kustomization) (*ssa.ResourceManager, error) {
	sa := obj.Spec.ServiceAccountName
	if sa == "" {
		sa = r.DefaultServiceAccount
	}
	key := ""
	if sa != "" {
		key = obj.Namespace + "/" + sa
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: sa}, &corev1.ServiceAccount{}); err != nil {
			if apierrors.IsNotFound(err) {
				err = fmt.Errorf("service account '%s' not found: the Kustomization cannot be applied on its behalf", key)
			}
			conditions.MarkFalse(obj, meta.ReadyCondition, meta.ReconciliationFailedReason, "%s", err.Error())
			return nil, err
		}
	}
	if m, ok := r.managers.Load(key); ok {
		return m.(*ssa.ResourceManager), nil
	}
	c := r.Client
	if sa != "" {
		cfg := rest.CopyConfig(r.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + obj.Namespace + ":" + sa}
		var err error
		if c, err = client.New(cfg, client.Options{Scheme: r.Scheme(), Mapper: r.Mapper}); err != nil {
			return nil, err
		}
	}
	m := ssa.NewResourceManager(c, polling.NewStatusPoller(c, r.Mapper, polling.Options{}), ssa.Owner{Field: r.FieldManager, Group: kustomizev1.GroupVersion.Group})
	if r.ConcurrentSSA > 0 {
		m.SetConcurrency(r.ConcurrentSSA)
	}
	actual, _ := r.managers.LoadOrStore(key, m)
	return actual.(*ssa.ResourceManager), nil
}
