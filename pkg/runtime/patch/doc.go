// Package patch writes a reconciled object back to the API server in at most two requests:
// one merge patch of metadata (finalizers, annotations) and one of the status subresource,
// each sent only when something changed. Reconcilers use one StatusPatcher per reconcile.
package patch
