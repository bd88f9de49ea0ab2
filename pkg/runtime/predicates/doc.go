// Package predicates filters watch events: a reconciled object is enqueued when its generation
// changes or when it receives a new reconcile request annotation, not on its own status writes.
package predicates
