package receiver

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

var (
	env *testenv.Environment
	// hookURL is the suite's webhook server, with --no-cross-namespace-refs.
	hookURL string
	// oidcIssuer signs the tokens of the generic-oidc and gcr calls; it is also the gcr
	// Receivers' Google.
	oidcIssuer *issuer
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	env, err = testenv.Start(testenv.WithScheme(notifyv1.AddToScheme))
	if err != nil {
		return 0, err
	}
	defer env.Stop()
	mgr, err := env.NewManager(logr.Discard())
	if err != nil {
		return 0, err
	}
	r := &Reconciler{
		Client:        mgr.GetClient(),
		Events:        events.NewRecorder(mgr.GetEventRecorderFor("notification-controller"), env.Scheme, "notification-controller", nil, logr.Discard()),
		MinRetryDelay: 100 * time.Millisecond,
		MaxRetryDelay: time.Second,
		Concurrent:    2,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return 0, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	hookURL = "http://" + ln.Addr().String()
	if oidcIssuer, err = newIssuer(); err != nil {
		return 0, err
	}
	defer oidcIssuer.Close()
	srv := &Server{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), NoCrossNamespaceRefs: true, Log: logr.Discard(), GoogleIssuer: oidcIssuer.URL}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = srv.Serve(ctx, ln) }()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	return code, <-done
}
