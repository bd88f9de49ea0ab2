package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// ExternalArtifactKind is the kind name of ExternalArtifact.
const ExternalArtifactKind = "ExternalArtifact"

// ExternalArtifactSpec names the object the artifact was produced for, if any.
type ExternalArtifactSpec struct {
	// SourceRef points at the object for which another tool produced the artifact.
	// +optional
	SourceRef *meta.NamespacedObjectKindReference `json:"sourceRef,omitempty"`
}

// ExternalArtifactStatus is written by the tool that produces the artifact, not by
// source-controller.
type ExternalArtifactStatus struct {
	// Artifact is the produced artifact, served by its producer.
	// +optional
	Artifact *meta.Artifact `json:"artifact,omitempty"`

	// Conditions of the ExternalArtifact, set by its producer.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GetConditions returns the status conditions.
func (in *ExternalArtifact) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *ExternalArtifact) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetArtifact returns the produced artifact, or nil.
func (in *ExternalArtifact) GetArtifact() *meta.Artifact { return in.Status.Artifact }

// GetRequeueAfter is how often a consumer checks the artifact when nothing announces a new
// one: the kind has no interval of its own.
func (in *ExternalArtifact) GetRequeueAfter() time.Duration { return time.Minute }

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ea,categories=all;fluxcd;fluxcd-sources
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:printcolumn:name="Source",type="string",JSONPath=".spec.sourceRef.name",description=""
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=flux"
// +kubebuilder:metadata:labels="app.kubernetes.io/component=source-controller"
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// ExternalArtifact is an artifact that another tool produced and serves (an artifact
// generator, say), recorded so that Kustomizations and HelmReleases can consume it like a
// source's.
type ExternalArtifact struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExternalArtifactSpec   `json:"spec,omitempty"`
	Status ExternalArtifactStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ExternalArtifactList is a list of ExternalArtifacts.
type ExternalArtifactList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExternalArtifact `json:"items"`
}
