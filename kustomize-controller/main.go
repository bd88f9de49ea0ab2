// Command kustomize-controller builds Kustomizations from source artifacts and keeps the
// cluster equal to the result with server-side apply.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/controller"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/app"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

const controllerName = "kustomize-controller"

// strictSubstitutionsGate makes an undefined postBuild variable without a default an error
// instead of an empty string (on by default, as in Flux 2.7).
const strictSubstitutionsGate = "StrictPostBuildSubstitutions"

func main() {
	opts := app.NewOptions(controllerName, 4)
	httpRetry := pflag.Int("http-retry", 9, "The maximum number of retries when downloading artifacts.")
	concurrentSSA := pflag.Int("concurrent-ssa", 4, "The number of objects of one Kustomization dry-run concurrently.")
	overrideManagers := pflag.StringArray("override-manager", nil, "Field manager whose ownership of applied fields is removed, as kubectl's is (repeatable).")
	watchDrift := pflag.Bool("watch-drift", true, "Correct drift as soon as an applied object is deleted or another writer takes over an applied field, instead of at the next interval.")
	driftGap := pflag.Duration("drift-correction-gap", 2*time.Second, "The shortest time between two drift corrections of one Kustomization triggered by --watch-drift, so that a writer fighting over a field costs one apply per gap.")
	cacheDir := pflag.String("artifact-cache-dir", filepath.Join(os.TempDir(), controllerName, "artifacts"), "Where extracted artifacts are kept, one read-only tree per revision shared by its Kustomizations.")
	watchConfigs := pflag.String("watch-configs-label-selector", meta.ReconcileWatchLabel+"="+meta.ReconcileWatchEnabled, "Reconcile a Kustomization at once when a ConfigMap or Secret it reads (postBuild.substituteFrom, decryption.secretRef) changes, if that object matches this label selector; empty: only at the interval.")
	sopsAgeSecret := pflag.String("sops-age-secret", "", "The name of a Secret in RUNTIME_NAMESPACE whose '*.agekey' entries decrypt SOPS documents for every Kustomization with spec.decryption, besides its own keys.")
	opts.FeatureGates.Register(strictSubstitutionsGate, true)
	if err := app.ParseFlags(opts, pflag.CommandLine, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *sopsAgeSecret != "" && os.Getenv(app.RuntimeNamespaceEnv) == "" {
		fmt.Fprintf(os.Stderr, "--sops-age-secret needs the %s environment variable\n", app.RuntimeNamespaceEnv)
		os.Exit(2)
	}
	var configs labels.Selector
	if *watchConfigs != "" {
		sel, err := labels.Parse(*watchConfigs)
		if err != nil {
			fmt.Fprintf(os.Stderr, "--watch-configs-label-selector: %v\n", err)
			os.Exit(2)
		}
		configs = sel
		opts.ConfigsLabelSelector = *watchConfigs
	}
	scheme := app.NewScheme(kustomizev1.AddToScheme, sourcev1.AddToScheme)
	os.Exit(app.Run(opts, scheme, app.Watched{&kustomizev1.Kustomization{}}, func(_ context.Context, rt *app.Runtime) error {
		cache, err := artifact.NewCache(*cacheDir, &artifact.Fetcher{Retries: *httpRetry})
		if err != nil {
			return fmt.Errorf("opening the artifact cache: %w", err)
		}
		mgr := rt.Manager
		if err := mgr.Add(&controller.CachePruner{Client: mgr.GetClient(), Cache: cache, Interval: time.Minute, Idle: time.Hour}); err != nil {
			return err
		}
		return (&controller.KustomizationReconciler{
			Client:                mgr.GetClient(),
			Events:                rt.Events,
			Artifacts:             cache,
			FieldManager:          controllerName,
			OverrideManagers:      *overrideManagers,
			ConcurrentSSA:         *concurrentSSA,
			WatchDrift:            *watchDrift,
			StrictSubstitutions:   opts.FeatureGates.Enabled(strictSubstitutionsGate),
			WatchConfigsSelector:  configs,
			SOPSAgeSecret:         types.NamespacedName{Namespace: os.Getenv(app.RuntimeNamespaceEnv), Name: *sopsAgeSecret},
			DriftCorrectionGap:    *driftGap,
			NoCrossNamespaceRefs:  rt.Options.NoCrossNamespaceRefs,
			DefaultServiceAccount: rt.Options.DefaultServiceAccount,
			JitterPercent:         rt.Options.IntervalJitterPercentage,
			MinRetryDelay:         rt.Options.MinRetryDelay,
			MaxRetryDelay:         rt.Options.MaxRetryDelay,
			RequeueDependency:     rt.Options.RequeueDependency,
			Concurrent:            rt.Options.Concurrent,
		}).SetupWithManager(mgr)
	}))
}
