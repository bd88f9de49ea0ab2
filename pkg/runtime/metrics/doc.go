// Package metrics registers Flux's controller metrics (gotk_reconcile_duration_seconds and the
// deprecated gotk_reconcile_condition and gotk_suspend_status) on controller-runtime's registry,
// so they are served on --metrics-addr beside controller-runtime's own.
package metrics
