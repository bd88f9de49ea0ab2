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

	helmv2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/helm-controller/internal/controller"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/app"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

const controllerName = "helm-controller"

func main() {
	opts := app.NewOptions(controllerName, 4)
	if err := app.ParseFlags(opts, pflag.CommandLine, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	scheme := app.NewScheme(helmv2.AddToScheme, sourcev1.AddToScheme)
	os.Exit(app.Run(opts, scheme, app.Watched{&helmv2.HelmRelease{}}, setup))
}

// setup registers the HelmRelease reconciler.
func setup(_ context.Context, rt *app.Runtime) error {
	mgr, shared := rt.Manager, rt.Options
	// Parts of the Helm SDK log through slog's default logger: into the structured log too.
	slog.SetDefault(slog.New(logr.ToSlogHandler(rt.Log.WithName("helm"))))
	return (&controller.HelmReleaseReconciler{
		Client:                mgr.GetClient(),
		Config:                mgr.GetConfig(),
		Events:                rt.Events,
		Fetcher:               &artifact.Fetcher{},
		DefaultServiceAccount: shared.DefaultServiceAccount,
		NoCrossNamespaceRefs:  shared.NoCrossNamespaceRefs,
		DependencyRetry:       shared.RequeueDependency,
		JitterPercent:         shared.IntervalJitterPercentage,
		MinRetryDelay:         shared.MinRetryDelay,
		MaxRetryDelay:         shared.MaxRetryDelay,
		Concurrent:            shared.Concurrent,
	}).SetupWithManager(mgr)
}
