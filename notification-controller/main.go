// Command notification-controller receives the events the other controllers post, forwards them to
// alert providers, and serves the webhook receivers that trigger reconciles.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/pkg/runtime/app"
)

const controllerName = "notification-controller"

func main() {
	opts := app.NewOptions(controllerName, 4)
	// notification-controller receives events on --events-addr instead of sending them.
	opts.EventsAddrIsListener = true
	opts.EventsAddr = ":9090"
	if err := app.ParseFlags(opts, pflag.CommandLine, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	scheme := app.NewScheme(notifyv1.AddToScheme, notifyv1beta3.AddToScheme)
	os.Exit(app.Run(opts, scheme, app.Watched{&notifyv1.Receiver{}, &notifyv1beta3.Alert{}, &notifyv1beta3.Provider{}}, setup))
}

// setup registers the reconcilers and servers; they arrive with the notification-controller issue.
func setup(context.Context, *app.Runtime) error { return nil }
