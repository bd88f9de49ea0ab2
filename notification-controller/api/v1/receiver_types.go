package v1

import (
	"crypto/sha256"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// ReceiverKind is the kind name of Receiver.
const ReceiverKind = "Receiver"

// Receiver types: how an incoming webhook is authenticated and parsed.
const (
	GenericReceiver     string = "generic"
	GenericHMACReceiver string = "generic-hmac"
	GenericOIDCReceiver string = "generic-oidc"
	GitHubReceiver      string = "github"
	GitLabReceiver      string = "gitlab"
	BitbucketReceiver   string = "bitbucket"
	HarborReceiver      string = "harbor"
	DockerHubReceiver   string = "dockerhub"
	QuayReceiver        string = "quay"
	GCRReceiver         string = "gcr"
	NexusReceiver       string = "nexus"
	ACRReceiver         string = "acr"
	CDEventsReceiver    string = "cdevents"
)

// ReceiverWebhookPathPrefix is the path prefix of every receiver's webhook.
const ReceiverWebhookPathPrefix = "/hook/"

// Condition reasons of Receiver.
const (
	ValidationFailedReason string = "ValidationFailed"
)

// ReceiverSpec describes an incoming webhook and the objects it asks to reconcile.
// +kubebuilder:validation:XValidation:rule="self.type == 'generic-oidc' || has(self.secretRef)",message="spec.secretRef is required unless type is 'generic-oidc'"
// +kubebuilder:validation:XValidation:rule="self.type != 'generic-oidc' || !has(self.secretRef)",message="spec.secretRef is not supported with type 'generic-oidc': the Receiver needs no secret"
// +kubebuilder:validation:XValidation:rule="self.type != 'generic-oidc' || (has(self.oidcProviders) && size(self.oidcProviders) > 0)",message="spec.oidcProviders needs at least one entry with type 'generic-oidc'"
// +kubebuilder:validation:XValidation:rule="self.type == 'generic-oidc' || !has(self.oidcProviders) || size(self.oidcProviders) == 0",message="spec.oidcProviders is only supported with type 'generic-oidc'"
type ReceiverSpec struct {
	// Type of the webhook sender, which decides how the request is verified.
	// +kubebuilder:validation:Enum=generic;generic-hmac;generic-oidc;github;gitlab;bitbucket;harbor;dockerhub;quay;gcr;nexus;acr;cdevents
	// +required
	Type string `json:"type"`

	// Interval at which the Receiver is reconciled.
	// +kubebuilder:default:="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval *meta.Duration `json:"interval,omitempty"`

	// Events filters the sender's event types (case-insensitive); every event when empty.
	// +optional
	Events []string `json:"events,omitempty"`

	// Resources are the objects to annotate with a reconcile request.
	// +required
	Resources []CrossNamespaceObjectReference `json:"resources"`

	// ResourceFilter is a CEL expression over 'res' (and 'req', 'claims') that decides which
	// of the matched objects are annotated.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ResourceFilter string `json:"resourceFilter,omitempty"`

	// SecretRef names a Secret whose 'token' both verifies requests and derives the webhook path.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// OIDCProviders lists the trusted issuers of a 'generic-oidc' Receiver, one entry per
	// issuer.
	// +listType=map
	// +listMapKey=issuerURL
	// +optional
	OIDCProviders []OIDCProvider `json:"oidcProviders,omitempty"`

	// Suspend stops the Receiver from acting on requests.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// OIDCProvider is an issuer whose ID tokens a 'generic-oidc' Receiver accepts.
type OIDCProvider struct {
	// IssuerURL of the OIDC provider.
	// +required
	IssuerURL string `json:"issuerURL"`

	// Audience the token must carry; 'notification-controller' when empty.
	// +optional
	Audience string `json:"audience,omitempty"`

	// Variables are CEL expressions over the claims, usable in validations.
	// +optional
	Variables []OIDCVariable `json:"variables,omitempty"`

	// Validations are CEL expressions that must all be true.
	// +kubebuilder:validation:MinItems=1
	// +required
	Validations []OIDCValidation `json:"validations"`
}

// OIDCVariable names a CEL expression over the token's claims.
type OIDCVariable struct {
	// Name of the variable.
	// +required
	Name string `json:"name"`
	// Expression computing it.
	// +required
	// +kubebuilder:validation:MaxLength=4096
	Expression string `json:"expression"`
}

// OIDCValidation is a CEL expression the token must satisfy.
type OIDCValidation struct {
	// Expression that must be true.
	// +required
	// +kubebuilder:validation:MaxLength=4096
	Expression string `json:"expression"`
	// Message returned when it is false.
	// +required
	Message string `json:"message"`
}

// CrossNamespaceObjectReference selects objects by kind and name or labels.
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

	// Namespace of the referent; the Receiver's when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// MatchLabels selects objects by label when Name is '*'.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`

	// Filter is a CEL expression over 'res' (and 'req', 'claims') that decides which of the
	// objects this entry matches are annotated; it is ANDed with spec.resourceFilter.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Filter string `json:"filter,omitempty"`
}

// ReceiverStatus records the observed state of a Receiver.
type ReceiverStatus struct {
	meta.ReconcileRequestStatus `json:",inline"`

	// Conditions of the Receiver.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// WebhookPath is '/hook/<sha256(token+name+namespace)>', the path to send webhooks to.
	// +optional
	WebhookPath string `json:"webhookPath,omitempty"`

	// ObservedGeneration is the last generation reconciled to a final state.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// GetConditions returns the status conditions.
func (in *Receiver) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *Receiver) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetRequeueAfter returns spec.interval or its default of ten minutes.
func (in *Receiver) GetRequeueAfter() time.Duration {
	if in.Spec.Interval != nil {
		return in.Spec.Interval.Duration
	}
	return 10 * time.Minute
}

// IsSuspended returns spec.suspend.
func (in *Receiver) IsSuspended() bool { return in.Spec.Suspend }

// GetObservedGeneration returns the generation the status describes.
func (in *Receiver) GetObservedGeneration() int64 { return in.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (in *Receiver) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetReconcileRequestStatus returns the status's part of the reconcile-request handshake.
func (in *Receiver) GetReconcileRequestStatus() *meta.ReconcileRequestStatus {
	return &in.Status.ReconcileRequestStatus
}

// WebhookPath derives the receiver's webhook path from its token, name and namespace.
func (in *Receiver) WebhookPath(token string) string {
	sum := sha256.Sum256([]byte(token + in.GetName() + in.GetNamespace()))
	return fmt.Sprintf("%s%x", ReceiverWebhookPathPrefix, sum)
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=all;fluxcd;fluxcd-notifications
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=flux"
// +kubebuilder:metadata:labels="app.kubernetes.io/component=notification-controller"
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// Receiver serves a webhook that makes a push reconcile the selected objects at once.
type Receiver struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ReceiverSpec `json:"spec,omitempty"`
	// +kubebuilder:default:={"observedGeneration":-1}
	Status ReceiverStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReceiverList is a list of Receivers.
type ReceiverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Receiver `json:"items"`
}
