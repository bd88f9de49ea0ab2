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
	"github.com/driftless-dev/driftless/notification-controller/internal/receiver"
	"github.com/driftless-dev/driftless/pkg/runtime/app"
)

const controllerName = "notification-controller"

func main() {
	opts := app.NewOptions(controllerName, 4)
	// notification-controller receives events on --events-addr instead of sending them.
	opts.EventsAddrIsListener = true
	opts.EventsAddr = ":9090"
	// Flux's name for the flag, camelCase.
	pflag.CommandLine.StringVar(&receiverAddr, "receiverAddr", receiverAddr, "The address the webhook receivers' server binds to.")
	if err := app.ParseFlags(opts, pflag.CommandLine, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	scheme := app.NewScheme(notifyv1.AddToScheme, notifyv1beta3.AddToScheme)
	os.Exit(app.Run(opts, scheme, app.Watched{&notifyv1.Receiver{}, &notifyv1beta3.Alert{}, &notifyv1beta3.Provider{}}, setup))
}

// receiverAddr is where the webhook receivers are served (--receiverAddr).
var receiverAddr = ":9292"

// setup registers the reconcilers and servers.
func setup(_ context.Context, rt *app.Runtime) error {
	mgr := rt.Manager
	if err := (&receiver.Reconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Events:        rt.Events,
		MinRetryDelay: rt.Options.MinRetryDelay,
		MaxRetryDelay: rt.Options.MaxRetryDelay,
		Concurrent:    rt.Options.Concurrent,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	return mgr.Add(&receiver.Server{
		Addr:                 receiverAddr,
		Client:               mgr.GetClient(),
		APIReader:            mgr.GetAPIReader(),
		NoCrossNamespaceRefs: rt.Options.NoCrossNamespaceRefs,
		Log:                  rt.Log.WithName("receiver"),
	})
}
