package meta

import (
	"time"
)

// Annotations of the reconcile-request handshake. A new value of ReconcileRequestAnnotation asks
// for a reconcile now; the controller copies the value it handled to
// status.lastHandledReconcileAt. HelmRelease also honours the force and reset annotations, but
// only when their value equals the requestedAt value.
const (
	ReconcileRequestAnnotation string = "reconcile.fluxcd.io/requestedAt"
	ForceRequestAnnotation     string = "reconcile.fluxcd.io/forceAt"
	ResetRequestAnnotation     string = "reconcile.fluxcd.io/resetAt"
)

// A ConfigMap or Secret labelled ReconcileWatchLabel: ReconcileWatchEnabled is watched by the
// controllers that read it: a change reconciles its readers at once.
const (
	ReconcileWatchLabel   string = "reconcile.fluxcd.io/watch"
	ReconcileWatchEnabled string = "Enabled"
)

// ReconcileRequestStatus is embedded in the status of every reconciled kind.
type ReconcileRequestStatus struct {
	// LastHandledReconcileAt holds the value of the most recent reconcile request value, so a
	// change of the annotation value can be detected.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// GetLastHandledReconcileRequest returns the most recently handled requestedAt value.
func (in ReconcileRequestStatus) GetLastHandledReconcileRequest() string {
	return in.LastHandledReconcileAt
}

// SetLastHandledReconcileRequest records the requestedAt value that was handled.
func (in *ReconcileRequestStatus) SetLastHandledReconcileRequest(token string) {
	in.LastHandledReconcileAt = token
}

// ReconcileAnnotationValue returns the requestedAt annotation value and whether it is set.
func ReconcileAnnotationValue(annotations map[string]string) (string, bool) {
	if annotations == nil {
		return "", false
	}
	v, ok := annotations[ReconcileRequestAnnotation]
	return v, ok
}

// ObjectWithReconcileRequest is implemented by kinds that take part in the handshake.
// +kubebuilder:object:generate=false
type ObjectWithReconcileRequest interface {
	GetLastHandledReconcileRequest() string
	SetLastHandledReconcileRequest(string)
}

// Interval is implemented by kinds reconciled on a schedule.
// +kubebuilder:object:generate=false
type Interval interface {
	GetRequeueAfter() time.Duration
}

// HandleRequest returns the value of the request annotation key (ForceRequestAnnotation or
// ResetRequestAnnotation) when it asks for something not handled yet: it is set, differs from
// lastHandled, and equals the requestedAt value (so that only a reconcile request made with it
// counts, as 'flux reconcile --force' and '--reset' make).
func HandleRequest(annotations map[string]string, key, lastHandled string) (string, bool) {
	v, ok := annotations[key]
	if !ok || v == "" || v == lastHandled || annotations[ReconcileRequestAnnotation] != v {
		return "", false
	}
	return v, true
}
