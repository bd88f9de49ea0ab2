package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/metrics"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
)

// RuntimeNamespaceEnv names the environment variable holding the controller's own namespace.
const RuntimeNamespaceEnv = "RUNTIME_NAMESPACE"

// Runtime is what a controller's setup function receives.
type Runtime struct {
	Manager ctrl.Manager
	Events  *events.Recorder
	Options *Options
	Log     logr.Logger
}

// Setup registers a controller's reconcilers and servers with the manager.
type Setup func(ctx context.Context, rt *Runtime) error

// Watched lists the kinds the controller serves: readiness requires the API server to serve
// them, and --watch-label-selector applies to them (and only to them, so that Secrets and
// sources are still seen).
type Watched []client.Object

// NewLogger builds the structured logger: JSON with ISO-8601 timestamps by default, the keys
// `flux logs` parses (ts, level, msg, error, logger).
func NewLogger(o LogOptions) logr.Logger {
	level := zapcore.InfoLevel
	switch o.Level {
	case "debug":
		level = zapcore.DebugLevel
	case "trace":
		level = zapcore.Level(-2)
	case "error":
		level = zapcore.ErrorLevel
	}
	fluxKeys := func(c *zapcore.EncoderConfig) {
		c.TimeKey = "ts"
		c.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	encoder := zap.JSONEncoder(fluxKeys)
	if o.Encoding == "console" {
		encoder = zap.ConsoleEncoder(fluxKeys)
	}
	// Every line, controller-runtime's included, passes the redaction of conditions and events.
	return logr.New(redact.LogSink(zap.New(zap.Level(level), encoder).GetSink()))
}

// NewManager builds a controller-runtime manager from the options.
func NewManager(o *Options, scheme *runtime.Scheme, watched Watched, log logr.Logger) (ctrl.Manager, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.UserAgent = o.Name
	log.Info(o.RateLimit(context.Background(), cfg))

	cacheOpts := cache.Options{}
	runtimeNamespace := os.Getenv(RuntimeNamespaceEnv)
	if !o.WatchAllNamespaces {
		if runtimeNamespace == "" {
			return nil, fmt.Errorf("--watch-all-namespaces=false needs the %s environment variable", RuntimeNamespaceEnv)
		}
		cacheOpts.DefaultNamespaces = map[string]cache.Config{runtimeNamespace: {}}
	}
	cacheOpts.ByObject = map[client.Object]cache.ByObject{}
	if o.WatchLabelSelector != "" {
		sel, err := labels.Parse(o.WatchLabelSelector)
		if err != nil {
			return nil, fmt.Errorf("--watch-label-selector: %w", err)
		}
		for _, obj := range watched {
			cacheOpts.ByObject[obj] = cache.ByObject{Label: sel}
		}
	}
	if o.ConfigsLabelSelector != "" {
		sel, err := labels.Parse(o.ConfigsLabelSelector)
		if err != nil {
			return nil, fmt.Errorf("--watch-configs-label-selector: %w", err)
		}
		cacheOpts.ByObject[&corev1.ConfigMap{}] = cache.ByObject{Label: sel}
		cacheOpts.ByObject[&corev1.Secret{}] = cache.ByObject{Label: sel}
	}

	recoverPanic := true
	shutdown := o.GracefulShutdownTimeout
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		// Secrets and ConfigMaps are read from the API server: a cache of them would hold every
		// one in the cluster (Helm's releases included). The watches a controller asks for
		// (--watch-configs-label-selector) still work, restricted by label.
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}}},
		Logger:                        log,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr, ExtraHandlers: pprofHandlers()},
		HealthProbeBindAddress:        o.HealthAddr,
		LeaderElection:                o.LeaderElection.Enable,
		LeaderElectionID:              o.Name + "-leader-election",
		LeaderElectionNamespace:       runtimeNamespace,
		LeaderElectionResourceLock:    "leases",
		LeaseDuration:                 &o.LeaderElection.LeaseDuration,
		RenewDeadline:                 &o.LeaderElection.RenewDeadline,
		RetryPeriod:                   &o.LeaderElection.RetryPeriod,
		LeaderElectionReleaseOnCancel: o.LeaderElection.ReleaseOnCancel,
		GracefulShutdownTimeout:       &shutdown,
		Cache:                         cacheOpts,
		Controller: config.Controller{
			MaxConcurrentReconciles: o.Concurrent,
			RecoverPanic:            &recoverPanic,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("crds", servesKinds(mgr, watched)); err != nil {
		return nil, err
	}
	return mgr, nil
}

// servesKinds is a readiness check: the API server answers and serves every watched kind, so
// a controller whose CRDs are missing says so instead of pretending to be ready.
func servesKinds(mgr ctrl.Manager, watched Watched) healthz.Checker {
	return func(*http.Request) error {
		for _, obj := range watched {
			gvk, err := apiutil.GVKForObject(obj, mgr.GetScheme())
			if err != nil {
				return err
			}
			if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				return fmt.Errorf("the API server does not serve %s (are the CRDs from manifests/crds installed?): %w", gvk, err)
			}
		}
		return nil
	}
}

// Run is a controller's whole main: it validates the options, builds the manager and event
// recorder, calls setup, and runs until SIGINT or SIGTERM. It returns the process exit code:
// 0 after a clean shutdown.
func Run(o *Options, scheme *runtime.Scheme, watched Watched, setup Setup) int {
	log := NewLogger(o.Log)
	ctrl.SetLogger(log)
	if err := o.Validate(); err != nil {
		log.Error(err, "invalid options")
		return 2
	}

	mgr, err := NewManager(o, scheme, watched, log)
	if err != nil {
		log.Error(err, "unable to start", "controller", o.Name)
		return 1
	}
	metrics.Register()

	var poster *events.Poster
	if o.EventsAddr != "" && !o.EventsAddrIsListener {
		poster = events.NewPoster(o.EventsAddr, events.PosterOptions{}, log.WithName("events"))
	}
	recorder := events.NewRecorder(mgr.GetEventRecorderFor(o.Name), scheme, o.Name, poster, log.WithName("events"))
	if err := mgr.Add(nonLeaderRunnable{recorder}); err != nil {
		log.Error(err, "adding the event recorder")
		return 1
	}

	ctx := ctrl.SetupSignalHandler()
	rt := &Runtime{Manager: mgr, Events: recorder, Options: o, Log: log}
	if err := setup(ctx, rt); err != nil {
		log.Error(err, "setting up controllers")
		return 1
	}

	start := time.Now()
	log.Info("starting manager", "controller", o.Name)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped with an error")
		return 1
	}
	log.Info("stopped cleanly", "controller", o.Name, "uptime", time.Since(start).Round(time.Millisecond).String())
	return 0
}

// nonLeaderRunnable runs on every replica, leader or not.
type nonLeaderRunnable struct {
	r interface{ Start(context.Context) error }
}

func (n nonLeaderRunnable) Start(ctx context.Context) error { return n.r.Start(ctx) }
func (nonLeaderRunnable) NeedLeaderElection() bool          { return false }

// NewScheme returns a scheme with Kubernetes's built-in kinds and the given API groups.
func NewScheme(addToScheme ...func(*runtime.Scheme) error) *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	for _, add := range addToScheme {
		utilruntime.Must(add(s))
	}
	return s
}

// pprofHandlers serves Go's profiles on the metrics address under /debug/pprof/, as Flux
// does, so a running controller can be profiled without a rebuild.
func pprofHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		"/debug/pprof/":        http.HandlerFunc(pprof.Index),
		"/debug/pprof/cmdline": http.HandlerFunc(pprof.Cmdline),
		"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
		"/debug/pprof/symbol":  http.HandlerFunc(pprof.Symbol),
		"/debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
	}
}
