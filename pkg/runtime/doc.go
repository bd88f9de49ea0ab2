// Package runtime is the root of the controller runtime that all Driftless controllers share:
// conditions, status patching, events, metrics, predicates, requeue policy, and the common
// process options and manager setup. Each concern lives in its own sub-package.
package runtime
