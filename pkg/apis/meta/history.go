package meta

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// History is a list of reconciliation snapshots, newest first.
type History []Snapshot

// Snapshot records reconciliations of one set of built manifests that ended the same way.
type Snapshot struct {
	// Digest of the built manifests.
	// +required
	Digest string `json:"digest"`

	// FirstReconciled is when this digest was first reconciled.
	// +required
	FirstReconciled metav1.Time `json:"firstReconciled"`

	// LastReconciled is when this digest was last reconciled.
	// +required
	LastReconciled metav1.Time `json:"lastReconciled"`

	// LastReconciledDuration is how long the last reconciliation took.
	// +required
	LastReconciledDuration metav1.Duration `json:"lastReconciledDuration"`

	// LastReconciledStatus is the Ready reason of the last reconciliation.
	// +required
	LastReconciledStatus string `json:"lastReconciledStatus"`

	// TotalReconciliations counts the reconciliations of this digest.
	// +required
	TotalReconciliations int64 `json:"totalReconciliations"`

	// Metadata holds details such as the source revision.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}
