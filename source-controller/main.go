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
)

const controllerName = "source-controller"

func main() {
	opts := app.NewOptions(controllerName, 2)
	if err := app.ParseFlags(opts, pflag.CommandLine, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	scheme := app.NewScheme(sourcev1.AddToScheme)
	os.Exit(app.Run(opts, scheme, app.Watched{&sourcev1.GitRepository{}, &sourcev1.OCIRepository{}, &sourcev1.HelmRepository{}, &sourcev1.HelmChart{}, &sourcev1.Bucket{}}, setup))
}

// setup registers the reconcilers and servers; they arrive with the source-controller issue.
func setup(context.Context, *app.Runtime) error { return nil }
