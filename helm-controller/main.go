// Command helm-controller reconciles HelmReleases with the Helm SDK: install, upgrade, test,
// rollback, uninstall and drift correction.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	helmv2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/helm-controller/internal/controller"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/app"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

const controllerName = "helm-controller"

// watchConfigs is --watch-configs-label-selector.
var watchConfigs string

func main() {
	opts := app.NewOptions(controllerName, 4)
	pflag.StringVar(&watchConfigs, "watch-configs-label-selector", meta.ReconcileWatchLabel+"="+meta.ReconcileWatchEnabled,
		"Reconcile a HelmRelease at once when a ConfigMap or Secret of its valuesFrom changes, if that object matches this label selector; empty: only at the interval.")
	if err := app.ParseFlags(opts, pflag.CommandLine, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// The manager's watch of ConfigMaps and Secrets holds only those: never Helm's release
	// Secrets, which a watch of every Secret would decode on each release.
	opts.ConfigsLabelSelector = watchConfigs
	scheme := app.NewScheme(helmv2.AddToScheme, sourcev1.AddToScheme)
	os.Exit(app.Run(opts, scheme, app.Watched{&helmv2.HelmRelease{}}, setup))
}

// setup registers the HelmRelease reconciler.
func setup(_ context.Context, rt *app.Runtime) error {
	mgr, shared := rt.Manager, rt.Options
	var selector labels.Selector
	if watchConfigs != "" {
		sel, err := labels.Parse(watchConfigs)
		if err != nil {
			return fmt.Errorf("--watch-configs-label-selector: %w", err)
		}
		selector = sel
	}
	// Parts of the Helm SDK log through slog's default logger: into the structured log too.
	slog.SetDefault(slog.New(logr.ToSlogHandler(rt.Log.WithName("helm"))))
	return (&controller.HelmReleaseReconciler{
		Client:                mgr.GetClient(),
		Config:                mgr.GetConfig(),
		Events:                rt.Events,
		Fetcher:               &artifact.Fetcher{},
		DefaultServiceAccount: shared.DefaultServiceAccount,
		NoCrossNamespaceRefs:  shared.NoCrossNamespaceRefs,
		WatchConfigsSelector:  selector,
		DependencyRetry:       shared.RequeueDependency,
		JitterPercent:         shared.IntervalJitterPercentage,
		MinRetryDelay:         shared.MinRetryDelay,
		MaxRetryDelay:         shared.MaxRetryDelay,
		Concurrent:            shared.Concurrent,
	}).SetupWithManager(mgr)
}
