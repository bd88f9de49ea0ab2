package alert

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"

	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

var (
	env *testenv.Environment
	// eventsURL is the suite's event intake: duplicates refused for 5 minutes.
	eventsURL string
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
	env, err = testenv.Start(testenv.WithScheme(notifyv1beta3.AddToScheme))
	if err != nil {
		return 0, err
	}
	defer env.Stop()
	mgr, err := env.NewManager(logr.Discard())
	if err != nil {
		return 0, err
	}
	d := &Dispatcher{
		Client:               mgr.GetClient(),
		APIReader:            mgr.GetAPIReader(),
		Events:               events.NewRecorder(mgr.GetEventRecorderFor("notification-controller"), env.Scheme, "notification-controller", nil, logr.Discard()),
		NoCrossNamespaceRefs: true,
		Backoff:              10 * time.Millisecond,
		Log:                  logr.Discard(),
	}
	if err := mgr.Add(d); err != nil {
		return 0, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	eventsURL = "http://" + ln.Addr().String()
	srv := &Server{Dispatcher: d, RateLimitInterval: 5 * time.Minute, Log: logr.Discard()}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = srv.Serve(ctx, ln) }()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	return code, <-done
}
