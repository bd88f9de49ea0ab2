package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// ReconcileDuration is the duration of reconciles, by object.
	ReconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gotk_reconcile_duration_seconds",
		Help:    "The duration in seconds of a GitOps Toolkit resource reconciliation.",
		Buckets: prometheus.ExponentialBucketsRange(10e-3, 1800, 10),
	}, []string{"kind", "name", "namespace"})

	// ReconcileCondition is registered for dashboards that query it; Flux no longer sets it.
	ReconcileCondition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gotk_reconcile_condition",
		Help: "The current condition status of a GitOps Toolkit resource reconciliation (deprecated).",
	}, []string{"kind", "name", "namespace", "type", "status"})

	// SuspendStatus is registered for dashboards that query it; Flux no longer sets it.
	SuspendStatus = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gotk_suspend_status",
		Help: "The current suspend status of a GitOps Toolkit resource (deprecated).",
	}, []string{"kind", "name", "namespace"})
)

var registerOnce sync.Once

// Register adds the metrics to controller-runtime's registry; it is safe to call repeatedly.
func Register() {
	registerOnce.Do(func() {
		crmetrics.Registry.MustRegister(ReconcileDuration, ReconcileCondition, SuspendStatus)
	})
}

// RecordDuration observes the time since start for the object.
func RecordDuration(kind, namespace, name string, start time.Time) {
	ReconcileDuration.WithLabelValues(kind, name, namespace).Observe(time.Since(start).Seconds())
}

// Forget removes the object's series, for example once it is deleted.
func Forget(kind, namespace, name string) {
	ReconcileDuration.DeleteLabelValues(kind, name, namespace)
}
