// Package lifecycle is the reconcile skeleton every Driftless kind runs on. A kind declares its
// conditions as data (Policy) and its work as ordered steps over one scope; steps return typed
// errors (Failed, Stalled, Waiting, Progressing) and the skeleton turns them, in one place,
// into conditions, events on transitions, one status patch, metrics and the requeue.
package lifecycle
