// Command notification-controller receives the events the other controllers post, forwards them to
// alert providers, and serves the webhook receivers that trigger reconciles.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/notification-controller/internal/alert"
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
	pflag.CommandLine.DurationVar(&rateLimitInterval, "rate-limit-interval", rateLimitInterval, "How long an event is refused (429) as a duplicate of an equal one; 0 refuses none.")
	if err := app.ParseFlags(opts, pflag.CommandLine, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	scheme := app.NewScheme(notifyv1.AddToScheme, notifyv1beta3.AddToScheme)
	os.Exit(app.Run(opts, scheme, app.Watched{&notifyv1.Receiver{}, &notifyv1beta3.Alert{}, &notifyv1beta3.Provider{}}, setup))
}

// receiverAddr is where the webhook receivers are served (--receiverAddr); rateLimitInterval
// how long an event is a duplicate of an equal one (--rate-limit-interval).
var (
	receiverAddr      = ":9292"
	rateLimitInterval = 5 * time.Minute
)

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
	dispatcher := &alert.Dispatcher{
		Client:               mgr.GetClient(),
		APIReader:            mgr.GetAPIReader(),
		Events:               rt.Events,
		NoCrossNamespaceRefs: rt.Options.NoCrossNamespaceRefs,
		Log:                  rt.Log.WithName("alert"),
	}
	if err := mgr.Add(dispatcher); err != nil {
		return err
	}
	if err := mgr.Add(&alert.Server{Addr: rt.Options.EventsAddr, Dispatcher: dispatcher, RateLimitInterval: rateLimitInterval, Log: rt.Log.WithName("events")}); err != nil {
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
