// Command source-controller fetches Git repositories, OCI artifacts, Helm repositories and
// buckets, packs each revision into a tar.gz artifact and serves it over HTTP.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/driftless-dev/driftless/pkg/runtime/app"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/controller"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

const controllerName = "source-controller"

func main() {
	opts := app.NewOptions(controllerName, 2)
	storageOpts := storage.DefaultOptions()
	storageOpts.BindFlags(pflag.CommandLine)
	if err := app.ParseFlags(opts, pflag.CommandLine, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	scheme := app.NewScheme(sourcev1.AddToScheme)
	watched := app.Watched{&sourcev1.GitRepository{}, &sourcev1.OCIRepository{}, &sourcev1.HelmRepository{}, &sourcev1.HelmChart{}, &sourcev1.Bucket{}}
	os.Exit(app.Run(opts, scheme, watched, func(_ context.Context, rt *app.Runtime) error {
		return setup(rt, storageOpts)
	}))
}

// setup opens the artifact storage, serves it, and registers the reconcilers.
func setup(rt *app.Runtime, o storage.Options) error {
	adv, err := o.AdvertisedAddr()
	if err != nil {
		return err
	}
	st, err := storage.New(o.Path, adv, o.RetentionTTL, o.RetentionRecords)
	if err != nil {
		return fmt.Errorf("opening storage %s: %w", o.Path, err)
	}
	st.Limits = o.Limits
	if err := rt.Manager.Add(&storage.Server{Storage: st, Addr: o.Addr}); err != nil {
		return err
	}
	if err := (&controller.GitRepositoryReconciler{
		Client:        rt.Manager.GetClient(),
		Events:        rt.Events,
		Storage:       st,
		JitterPercent: rt.Options.IntervalJitterPercentage,
		MinRetryDelay: rt.Options.MinRetryDelay,
		MaxRetryDelay: rt.Options.MaxRetryDelay,
		Concurrent:    rt.Options.Concurrent,
	}).SetupWithManager(rt.Manager); err != nil {
		return err
	}
	if err := (&controller.OCIRepositoryReconciler{
		Client:        rt.Manager.GetClient(),
		Events:        rt.Events,
		Storage:       st,
		JitterPercent: rt.Options.IntervalJitterPercentage,
		MinRetryDelay: rt.Options.MinRetryDelay,
		MaxRetryDelay: rt.Options.MaxRetryDelay,
		Concurrent:    rt.Options.Concurrent,
	}).SetupWithManager(rt.Manager); err != nil {
		return err
	}
	if err := (&controller.BucketReconciler{
		Client:        rt.Manager.GetClient(),
		Events:        rt.Events,
		Storage:       st,
		JitterPercent: rt.Options.IntervalJitterPercentage,
		MinRetryDelay: rt.Options.MinRetryDelay,
		MaxRetryDelay: rt.Options.MaxRetryDelay,
		Concurrent:    rt.Options.Concurrent,
	}).SetupWithManager(rt.Manager); err != nil {
		return err
	}
	if err := (&controller.HelmRepositoryReconciler{
		Client:        rt.Manager.GetClient(),
		Events:        rt.Events,
		Storage:       st,
		JitterPercent: rt.Options.IntervalJitterPercentage,
		MinRetryDelay: rt.Options.MinRetryDelay,
		MaxRetryDelay: rt.Options.MaxRetryDelay,
		Concurrent:    rt.Options.Concurrent,
	}).SetupWithManager(rt.Manager); err != nil {
		return err
	}
	return (&controller.HelmChartReconciler{
		Client:        rt.Manager.GetClient(),
		Events:        rt.Events,
		Storage:       st,
		JitterPercent: rt.Options.IntervalJitterPercentage,
		MinRetryDelay: rt.Options.MinRetryDelay,
		MaxRetryDelay: rt.Options.MaxRetryDelay,
		Concurrent:    rt.Options.Concurrent,
	}).SetupWithManager(rt.Manager)
}
