package testenv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Eventually polls cond every 100ms until it returns nil, and fails the test with cond's last
// error when timeout passes first.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reached within %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// NewManager returns a controller-runtime manager on the environment for reconciler tests:
// no metrics listener, and controller names may repeat across test binaries' setups.
func (e *Environment) NewManager(log logr.Logger) (ctrl.Manager, error) {
	skipNameValidation := true
	return ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:     e.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: &skipNameValidation},
		Logger:     log,
	})
}

// EventRecorder returns a recorder that writes Kubernetes Events to the API server as
// component, as a controller's does, until t ends.
func (e *Environment) EventRecorder(t testing.TB, component string) record.EventRecorder {
	t.Helper()
	clientset, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: clientset.CoreV1().Events("")})
	t.Cleanup(b.Shutdown)
	return b.NewRecorder(e.Scheme, corev1.EventSource{Component: component})
}

// Watches returns how many WATCH requests on resource (a core kind's plural, 'secrets') are
// open on the API server, from its apiserver_longrunning_requests metric: what the
// controllers under test cache, seen from the server.
func (e *Environment) Watches(ctx context.Context, resource string) (int, error) {
	clientset, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return 0, err
	}
	data, err := clientset.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "apiserver_longrunning_requests{") || !strings.Contains(line, `resource="`+resource+`"`) || !strings.Contains(line, `verb="WATCH"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %q: %w", line, err)
		}
		n += int(v)
	}
	return n, nil
}
