// Package requeue holds the timing policy of reconciles: the jittered interval after success,
// the exponential backoff after failure, and the reconcile-request handshake.
package requeue
