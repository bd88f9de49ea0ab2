package controller

import (
	"time"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
)

// kustomizationPolicy is how a Kustomization's conditions make its status: Ready says which
// revision was applied, or why it was not; Healthy reports the health checks. A failed
// reconcile is retried with backoff up to spec.retryInterval (which defaults to
// spec.interval): a drift correction that fails for a moment is retried within a second,
// not an hour later.
var kustomizationPolicy = &lifecycle.Policy[*kustomizev1.Kustomization]{
	Kind:         kustomizev1.KustomizationKind,
	Group:        kustomizev1.GroupVersion.Group,
	Conditions:   []string{meta.HealthyCondition},
	FailedReason: meta.ReconciliationFailedReason,
	Ready: func(obj *kustomizev1.Kustomization) (string, string) {
		return meta.ReconciliationSucceededReason, "Applied revision: " + obj.Status.LastAppliedRevision
	},
	Revision:      func(obj *kustomizev1.Kustomization) string { return obj.Status.LastAttemptedRevision },
	Metadata:      originMetadata,
	RetryInterval: func(obj *kustomizev1.Kustomization) time.Duration { return obj.GetRetryInterval() },
}

// markApplied records the artifact as applied: its revision, and the origin revision an OCI
// artifact's manifest names (the Git commit it was pushed from), as Flux does.
func markApplied(obj *kustomizev1.Kustomization, a *meta.Artifact) {
	obj.Status.LastAppliedRevision = a.Revision
	obj.Status.LastAppliedOriginRevision = a.Metadata[meta.OCIRevisionAnnotation]
}

// originMetadata puts the origin revision on events about the applied revision; an attempt
// at another revision does not know its origin.
func originMetadata(obj *kustomizev1.Kustomization) map[string]string {
	s := obj.Status
	if s.LastAppliedOriginRevision == "" || s.LastAppliedRevision != s.LastAttemptedRevision {
		return nil
	}
	return map[string]string{event.MetaOriginRevisionKey: s.LastAppliedOriginRevision}
}
