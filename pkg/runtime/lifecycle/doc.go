// Package lifecycle holds the end of the reconcile skeleton that every Driftless controller
// shares: one deferred call computes the final status, writes it in a single patch, records the
// duration metric and schedules the next reconcile.
package lifecycle
