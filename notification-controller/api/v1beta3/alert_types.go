package v1beta3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// AlertKind is the kind name of Alert.
const AlertKind = "Alert"

// AlertSpec says which events to forward to which Provider.
type AlertSpec struct {
	// ProviderRef names the Provider in the Alert's namespace.
	// +required
	ProviderRef meta.LocalObjectReference `json:"providerRef"`

	// EventSeverity: 'info' forwards every event, 'error' only errors.
	// +kubebuilder:validation:Enum=info;error
	// +kubebuilder:default:=info
	// +optional
	EventSeverity string `json:"eventSeverity,omitempty"`

	// EventSources select the objects whose events are forwarded.
	// +required
	EventSources []CrossNamespaceObjectReference `json:"eventSources"`

	// InclusionList: when set, an event is forwarded only if one of these regular expressions
	// matches its message.
	// +optional
	InclusionList []string `json:"inclusionList,omitempty"`

	// EventMetadata is added to the metadata of every forwarded event.
	// +optional
	EventMetadata map[string]string `json:"eventMetadata,omitempty"`

	// ExclusionList: an event whose message matches any of these regular expressions is dropped.
	// +optional
	ExclusionList []string `json:"exclusionList,omitempty"`

	// Summary is added to the metadata as 'summary'. Deprecated: use EventMetadata.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Summary string `json:"summary,omitempty"`

	// Suspend stops forwarding.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// CrossNamespaceObjectReference selects event sources by kind and name or labels.
type CrossNamespaceObjectReference struct {
	// APIVersion of the referent.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the referent.
	// +kubebuilder:validation:Enum=Bucket;GitRepository;Kustomization;HelmRelease;HelmChart;HelmRepository;ImageRepository;ImagePolicy;ImageUpdateAutomation;OCIRepository;ArtifactGenerator;ExternalArtifact
	// +required
	Kind string `json:"kind"`

	// Name of the referent, or '*' for every object matching MatchLabels.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Namespace of the referent; the Alert's when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// MatchLabels selects objects by label when Name is '*'.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=all;fluxcd;fluxcd-notifications
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=flux"
// +kubebuilder:metadata:labels="app.kubernetes.io/component=notification-controller"
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// Alert forwards the events of selected objects to a Provider.
type Alert struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AlertSpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// AlertList is a list of Alerts.
type AlertList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Alert `json:"items"`
}
