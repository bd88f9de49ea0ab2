package testenv

import (
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
