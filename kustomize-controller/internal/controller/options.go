package controller

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/app"
)

// StrictSubstitutionsGate makes an undefined postBuild variable without a default an error
// instead of an empty string (on by default, as in Flux 2.7).
const StrictSubstitutionsGate = "StrictPostBuildSubstitutions"

// Options are kustomize-controller's own flags, besides those every controller shares.
type Options struct {
	HTTPRetry                 int
	ConcurrentSSA             int
	OverrideManagers          []string
	WatchDrift                bool
	DriftCorrectionGap        time.Duration
	VerifyInterval            time.Duration
	ArtifactCacheDir          string
	WatchConfigsLabelSelector string
	SOPSAgeSecret             string
	NoRemoteBases             bool
	// ArtifactLimits bound what is unpacked from an artifact; MaxDownloadBytes what is
	// downloaded of one.
	ArtifactLimits   artifact.Limits
	MaxDownloadBytes int64

	// configs is WatchConfigsLabelSelector parsed by Complete.
	configs labels.Selector
}

// DefaultOptions returns Flux's defaults, and Driftless's for its own flags.
func DefaultOptions(name string) *Options {
	return &Options{
		HTTPRetry:                 9,
		ConcurrentSSA:             4,
		WatchDrift:                true,
		DriftCorrectionGap:        2 * time.Second,
		VerifyInterval:            time.Hour,
		ArtifactCacheDir:          filepath.Join(os.TempDir(), name, "artifacts"),
		WatchConfigsLabelSelector: meta.ReconcileWatchLabel + "=" + meta.ReconcileWatchEnabled,
		NoRemoteBases:             true,
		MaxDownloadBytes:          artifact.DefaultMaxDownloadBytes,
	}
}

// BindFlags registers the options on fs.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.HTTPRetry, "http-retry", o.HTTPRetry, "The maximum number of retries when downloading artifacts.")
	fs.IntVar(&o.ConcurrentSSA, "concurrent-ssa", o.ConcurrentSSA, "The number of objects of one Kustomization dry-run concurrently.")
	fs.StringArrayVar(&o.OverrideManagers, "override-manager", o.OverrideManagers, "Field manager whose ownership of applied fields is removed, as kubectl's is (repeatable).")
	fs.BoolVar(&o.WatchDrift, "watch-drift", o.WatchDrift, "Correct drift as soon as an applied object is deleted or another writer takes over an applied field, instead of at the next interval.")
	fs.DurationVar(&o.DriftCorrectionGap, "drift-correction-gap", o.DriftCorrectionGap, "The shortest time between two drift corrections of one object triggered by --watch-drift, so that a writer fighting over a field costs one apply per gap.")
	fs.DurationVar(&o.VerifyInterval, "verify-interval", o.VerifyInterval, "How long a reconcile may trust the watch that nothing changed: a Kustomization's objects are compared with the API server (listed, and dry-run where their write history changed) at its first reconcile this long after the last comparison, whatever the watch shows. 0 compares at every reconcile.")
	fs.StringVar(&o.ArtifactCacheDir, "artifact-cache-dir", o.ArtifactCacheDir, "Where extracted artifacts are kept, one read-only tree per revision shared by its Kustomizations.")
	fs.StringVar(&o.WatchConfigsLabelSelector, "watch-configs-label-selector", o.WatchConfigsLabelSelector, "Reconcile a Kustomization at once when a ConfigMap or Secret it reads (postBuild.substituteFrom, decryption.secretRef) changes, if that object matches this label selector; empty: only at the interval.")
	o.ArtifactLimits.BindFlags(fs)
	fs.Var(artifact.SizeFlag(&o.MaxDownloadBytes), "artifact-max-download-size", "The most an artifact may hold compressed, as downloaded.")
	fs.BoolVar(&o.NoRemoteBases, "no-remote-bases", o.NoRemoteBases, "Refuse kustomizations that name remote bases, components or files (Git repositories, http(s) URLs): kustomize would fetch them from the controller, with no timeout and no size limit. Flux's flag, on by default here.")
	fs.StringVar(&o.SOPSAgeSecret, "sops-age-secret", o.SOPSAgeSecret, "The name of a Secret in RUNTIME_NAMESPACE whose '*.agekey' entries decrypt SOPS documents for every Kustomization with spec.decryption, besides its own keys.")
}

// Complete checks the options after parsing and fills in the shared options that depend on
// them: the manager caches only the ConfigMaps and Secrets the config watch selects.
func (o *Options) Complete(shared *app.Options) error {
	if o.SOPSAgeSecret != "" && os.Getenv(app.RuntimeNamespaceEnv) == "" {
		return fmt.Errorf("--sops-age-secret needs the %s environment variable", app.RuntimeNamespaceEnv)
	}
	if o.WatchConfigsLabelSelector != "" {
		sel, err := labels.Parse(o.WatchConfigsLabelSelector)
		if err != nil {
			return fmt.Errorf("--watch-configs-label-selector: %w", err)
		}
		o.configs = sel
		shared.ConfigsLabelSelector = o.WatchConfigsLabelSelector
	}
	return nil
}

// Setup opens the artifact cache and registers its pruner and the Kustomization reconciler.
func (o *Options) Setup(rt *app.Runtime) error {
	cache, err := artifact.NewCache(o.ArtifactCacheDir, &artifact.Fetcher{Retries: o.HTTPRetry, MaxDownloadBytes: o.MaxDownloadBytes, Limits: o.ArtifactLimits})
	if err != nil {
		return fmt.Errorf("opening the artifact cache: %w", err)
	}
	mgr := rt.Manager
	if err := mgr.Add(&CachePruner{Client: mgr.GetClient(), Cache: cache, Interval: time.Minute, Idle: time.Hour}); err != nil {
		return err
	}
	shared := rt.Options
	return (&KustomizationReconciler{
		Client:                mgr.GetClient(),
		Events:                rt.Events,
		Artifacts:             cache,
		FieldManager:          shared.Name,
		OverrideManagers:      o.OverrideManagers,
		ConcurrentSSA:         o.ConcurrentSSA,
		WatchDrift:            o.WatchDrift,
		StrictSubstitutions:   shared.FeatureGates.Enabled(StrictSubstitutionsGate),
		AllowRemoteBases:      !o.NoRemoteBases,
		WatchConfigsSelector:  o.configs,
		SOPSAgeSecret:         types.NamespacedName{Namespace: os.Getenv(app.RuntimeNamespaceEnv), Name: o.SOPSAgeSecret},
		DriftCorrectionGap:    o.DriftCorrectionGap,
		VerifyInterval:        o.VerifyInterval,
		NoCrossNamespaceRefs:  shared.NoCrossNamespaceRefs,
		DefaultServiceAccount: shared.DefaultServiceAccount,
		JitterPercent:         shared.IntervalJitterPercentage,
		MinRetryDelay:         shared.MinRetryDelay,
		MaxRetryDelay:         shared.MaxRetryDelay,
		RequeueDependency:     shared.RequeueDependency,
		Concurrent:            shared.Concurrent,
	}).SetupWithManager(mgr)
}
