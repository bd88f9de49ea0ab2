// Command kustomize-controller builds Kustomizations from source artifacts and keeps the
// cluster equal to the result with server-side apply.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/controller"
	"github.com/driftless-dev/driftless/pkg/runtime/app"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

const controllerName = "kustomize-controller"

func main() {
	opts := app.NewOptions(controllerName, 4)
	opts.FeatureGates.Register(controller.StrictSubstitutionsGate, true)
	ksOpts := controller.DefaultOptions(controllerName)
	ksOpts.BindFlags(pflag.CommandLine)
	if err := app.ParseFlags(opts, pflag.CommandLine, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := ksOpts.Complete(opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	scheme := app.NewScheme(kustomizev1.AddToScheme, sourcev1.AddToScheme)
	os.Exit(app.Run(opts, scheme, app.Watched{&kustomizev1.Kustomization{}}, func(_ context.Context, rt *app.Runtime) error {
		return ksOpts.Setup(rt)
	}))
}
