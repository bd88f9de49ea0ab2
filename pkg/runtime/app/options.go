package app

import (
	goflag "flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Options are the flags every Driftless controller shares, with Flux's names and defaults.
type Options struct {
	// Name is the controller's name: its field manager, event source and lease prefix.
	Name string

	MetricsAddr string
	HealthAddr  string
	// EventsAddr is where events are POSTed; for notification-controller it is the address its
	// event server listens on instead (see EventsAddrIsListener).
	EventsAddr string
	// EventsAddrIsListener is set by notification-controller, which receives events rather
	// than sending them.
	EventsAddrIsListener bool

	Concurrent               int
	RequeueDependency        time.Duration
	WatchAllNamespaces       bool
	WatchLabelSelector       string
	NoCrossNamespaceRefs     bool
	DefaultServiceAccount    string
	IntervalJitterPercentage uint8
	MinRetryDelay            time.Duration
	MaxRetryDelay            time.Duration
	// KubeAPIQPS and KubeAPIBurst bound the client's requests to the API server. Left at
	// their defaults, they apply only to an API server without priority and fairness (see
	// RateLimit).
	KubeAPIQPS              float32
	KubeAPIBurst            int
	GracefulShutdownTimeout time.Duration
	// ConfigsLabelSelector, set by a controller that watches the ConfigMaps and Secrets its
	// objects reference (--watch-configs-label-selector), limits the manager's cache of those
	// kinds to the objects it selects, instead of every ConfigMap and Secret in the cluster.
	ConfigsLabelSelector string

	LeaderElection LeaderElectionOptions
	Log            LogOptions
	FeatureGates   FeatureGates

	// flags are the flags BindFlags registered: they tell a limit set on purpose from the
	// default.
	flags *pflag.FlagSet
}

// LeaderElectionOptions configure the lease that makes one replica the active one.
type LeaderElectionOptions struct {
	Enable          bool
	LeaseDuration   time.Duration
	RenewDeadline   time.Duration
	RetryPeriod     time.Duration
	ReleaseOnCancel bool
}

// LogOptions configure the structured logger.
type LogOptions struct {
	// Level: 'trace', 'debug', 'info' or 'error'.
	Level string
	// Encoding: 'json' or 'console'.
	Encoding string
}

// NewOptions returns the defaults for a controller with the given name and worker count.
func NewOptions(name string, concurrent int) *Options {
	return &Options{
		Name:                     name,
		MetricsAddr:              ":8080",
		HealthAddr:               ":9440",
		Concurrent:               concurrent,
		RequeueDependency:        30 * time.Second,
		WatchAllNamespaces:       true,
		IntervalJitterPercentage: 5,
		MinRetryDelay:            750 * time.Millisecond,
		MaxRetryDelay:            15 * time.Minute,
		KubeAPIQPS:               50,
		KubeAPIBurst:             300,
		GracefulShutdownTimeout:  30 * time.Second,
		LeaderElection: LeaderElectionOptions{
			LeaseDuration:   35 * time.Second,
			RenewDeadline:   30 * time.Second,
			RetryPeriod:     5 * time.Second,
			ReleaseOnCancel: true,
		},
		Log:          LogOptions{Level: "info", Encoding: "json"},
		FeatureGates: FeatureGates{known: map[string]bool{}},
	}
}

// BindFlags registers the options on fs.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, "The address the metric endpoint binds to.")
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, "The address the health endpoint binds to.")
	if o.EventsAddrIsListener {
		fs.StringVar(&o.EventsAddr, "events-addr", o.EventsAddr, "The address the event endpoint binds to.")
	} else {
		fs.StringVar(&o.EventsAddr, "events-addr", o.EventsAddr, "The address of notification-controller, where events are posted.")
	}
	fs.IntVar(&o.Concurrent, "concurrent", o.Concurrent, "The number of concurrent reconciles per kind.")
	fs.DurationVar(&o.RequeueDependency, "requeue-dependency", o.RequeueDependency, "The interval at which failing dependencies are reevaluated.")
	fs.BoolVar(&o.WatchAllNamespaces, "watch-all-namespaces", o.WatchAllNamespaces, "Watch for resources in all namespaces; if false, only in the namespace of RUNTIME_NAMESPACE.")
	if !o.EventsAddrIsListener {
		fs.StringVar(&o.WatchLabelSelector, "watch-label-selector", o.WatchLabelSelector, "Watch only the resources matching this label selector (sharding).")
	}
	fs.BoolVar(&o.NoCrossNamespaceRefs, "no-cross-namespace-refs", o.NoCrossNamespaceRefs, "Refuse references to objects in other namespaces.")
	fs.StringVar(&o.DefaultServiceAccount, "default-service-account", o.DefaultServiceAccount, "The service account to impersonate when an object names none.")
	fs.Uint8Var(&o.IntervalJitterPercentage, "interval-jitter-percentage", o.IntervalJitterPercentage, "Percentage of jitter added to each object's interval, between 0 and 99.")
	fs.DurationVar(&o.MinRetryDelay, "min-retry-delay", o.MinRetryDelay, "The first backoff delay after a failed reconcile.")
	fs.DurationVar(&o.MaxRetryDelay, "max-retry-delay", o.MaxRetryDelay, "The longest backoff delay after failed reconciles.")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "The maximum queries per second to the Kubernetes API. Unless this or --kube-api-burst is set, no client-side limit applies when the API server has priority and fairness, which protects it; -1: no limit.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "The maximum burst of queries to the Kubernetes API (see --kube-api-qps).")
	o.flags = fs
	fs.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", o.GracefulShutdownTimeout, "How long to wait for running reconciles to finish on shutdown.")

	fs.BoolVar(&o.LeaderElection.Enable, "enable-leader-election", o.LeaderElection.Enable, "Ensure only one replica is active, through a Lease.")
	fs.DurationVar(&o.LeaderElection.LeaseDuration, "leader-election-lease-duration", o.LeaderElection.LeaseDuration, "How long non-leaders wait before trying to take the lease.")
	fs.DurationVar(&o.LeaderElection.RenewDeadline, "leader-election-renew-deadline", o.LeaderElection.RenewDeadline, "How long the leader tries to renew before giving up.")
	fs.DurationVar(&o.LeaderElection.RetryPeriod, "leader-election-retry-period", o.LeaderElection.RetryPeriod, "How long clients wait between attempts.")
	fs.BoolVar(&o.LeaderElection.ReleaseOnCancel, "leader-election-release-on-cancel", o.LeaderElection.ReleaseOnCancel, "Release the lease on shutdown.")

	fs.StringVar(&o.Log.Level, "log-level", o.Log.Level, "Log verbosity: trace, debug, info or error.")
	fs.StringVar(&o.Log.Encoding, "log-encoding", o.Log.Encoding, "Log encoding: json or console.")
	fs.Var(&o.FeatureGates, "feature-gates", "A comma-separated list of key=value pairs that enable or disable features.")
}

// Validate checks the options after parsing.
func (o *Options) Validate() error {
	if o.Concurrent < 1 {
		return fmt.Errorf("--concurrent must be at least 1, got %d", o.Concurrent)
	}
	if o.IntervalJitterPercentage >= 100 {
		return fmt.Errorf("--interval-jitter-percentage must be below 100, got %d", o.IntervalJitterPercentage)
	}
	if o.MinRetryDelay <= 0 || o.MaxRetryDelay < o.MinRetryDelay {
		return fmt.Errorf("--min-retry-delay (%s) must be positive and not above --max-retry-delay (%s)", o.MinRetryDelay, o.MaxRetryDelay)
	}
	switch o.Log.Level {
	case "trace", "debug", "info", "error":
	default:
		return fmt.Errorf("--log-level must be trace, debug, info or error, got %q", o.Log.Level)
	}
	switch o.Log.Encoding {
	case "json", "console":
	default:
		return fmt.Errorf("--log-encoding must be json or console, got %q", o.Log.Encoding)
	}
	return nil
}

// FeatureGates is the --feature-gates flag: a set of known gates with their defaults, and the
// values given on the command line.
type FeatureGates struct {
	known map[string]bool
	set   map[string]bool
}

// Register declares a gate and its default; only declared gates are accepted on the command line.
func (g *FeatureGates) Register(name string, def bool) {
	if g.known == nil {
		g.known = map[string]bool{}
	}
	g.known[name] = def
}

// Enabled reports whether the gate is on.
func (g *FeatureGates) Enabled(name string) bool {
	if v, ok := g.set[name]; ok {
		return v
	}
	return g.known[name]
}

// String implements pflag.Value.
func (g *FeatureGates) String() string {
	keys := make([]string, 0, len(g.set))
	for k := range g.set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatBool(g.set[k])
	}
	return strings.Join(parts, ",")
}

// Set implements pflag.Value.
func (g *FeatureGates) Set(value string) error {
	if g.set == nil {
		g.set = map[string]bool{}
	}
	for _, pair := range strings.Split(value, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("feature gate %q is not key=value", pair)
		}
		if _, known := g.known[k]; !known {
			return fmt.Errorf("unknown feature gate %q", k)
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("feature gate %s: %w", k, err)
		}
		g.set[k] = b
	}
	return nil
}

// Type implements pflag.Value.
func (g *FeatureGates) Type() string { return "mapStringBool" }

// ParseFlags binds the options and controller-runtime's --kubeconfig to fs, then parses args.
// Extra flags a controller defines on fs before calling it are parsed too.
func ParseFlags(o *Options, fs *pflag.FlagSet, args []string) error {
	o.BindFlags(fs)
	fs.AddGoFlagSet(goflag.CommandLine)
	return fs.Parse(args)
}
