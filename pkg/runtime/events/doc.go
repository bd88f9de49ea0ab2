// Package events records what happens to Driftless objects twice: as Kubernetes Events, and as
// Flux's event JSON POSTed to notification-controller's --events-addr. Messages are redacted
// before either sees them, and posting never blocks a reconcile.
package events
