package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// OCIRepositoryKind is the kind name of OCIRepository.
const OCIRepositoryKind = "OCIRepository"

// Layer operations of spec.layerSelector.operation.
const (
	OCILayerExtract = "extract"
	OCILayerCopy    = "copy"
)

// OCIRepositorySpec describes the OCI artifact to pull and which layer of it to store.
type OCIRepositorySpec struct {
	// URL of the repository, 'oci://<host>/<path>', without tag or digest.
	// +kubebuilder:validation:Pattern="^oci://.*$"
	// +required
	URL string `json:"url"`

	// Reference selects the artifact by digest, semver range or tag; 'latest' when unset.
	// +optional
	Reference *OCIRepositoryRef `json:"ref,omitempty"`

	// LayerSelector chooses the layer to store by media type, and whether to extract or copy it.
	// +optional
	LayerSelector *OCILayerSelector `json:"layerSelector,omitempty"`

	// Provider selects the registry authentication: 'generic' or a cloud's workload identity.
	// +kubebuilder:validation:Enum=generic;aws;azure;gcp
	// +kubebuilder:default:=generic
	// +optional
	Provider string `json:"provider,omitempty"`

	// SecretRef names a docker-registry Secret with the registry credentials.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// Verify asks for the artifact's cosign or notation signature to be verified.
	// +optional
	Verify *OCIRepositoryVerification `json:"verify,omitempty"`

	// ServiceAccountName names a service account whose image pull secrets are used.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// CertSecretRef names a Secret with 'ca.crt', and 'tls.crt' and 'tls.key' for mutual TLS.
	// +optional
	CertSecretRef *meta.LocalObjectReference `json:"certSecretRef,omitempty"`

	// ProxySecretRef names a Secret with the proxy 'address', 'username' and 'password'.
	// +optional
	ProxySecretRef *meta.LocalObjectReference `json:"proxySecretRef,omitempty"`

	// Interval is how often the registry is checked for a new artifact.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval meta.Duration `json:"interval"`

	// Timeout bounds each registry operation.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// Ignore replaces the default exclusion list with these gitignore-style patterns.
	// +optional
	Ignore *string `json:"ignore,omitempty"`

	// Insecure allows plain HTTP registries.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// Suspend stops reconciliation; the last artifact stays available.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// OCIRepositoryRef selects an artifact. Precedence: Digest, SemVer, Tag.
type OCIRepositoryRef struct {
	// Digest is the manifest digest, '<algorithm>:<hex>'.
	// +optional
	Digest string `json:"digest,omitempty"`

	// SemVer is a range over the repository's tags; the highest match is pulled.
	// +optional
	SemVer string `json:"semver,omitempty"`

	// SemverFilter is a regular expression the tags must match before the range applies.
	// +optional
	SemverFilter string `json:"semverFilter,omitempty"`

	// Tag is the image tag.
	// +optional
	Tag string `json:"tag,omitempty"`
}

// OCILayerSelector chooses one layer of an OCI artifact.
type OCILayerSelector struct {
	// MediaType of the layer; the first layer when empty.
	// +optional
	MediaType string `json:"mediaType,omitempty"`

	// Operation: 'extract' (a tar.gz layer, the default) or 'copy' (stored as it is).
	// +kubebuilder:validation:Enum=extract;copy
	// +optional
	Operation string `json:"operation,omitempty"`
}

// OCIRepositoryVerification configures signature verification of OCI artifacts.
type OCIRepositoryVerification struct {
	// Provider of the signature: 'cosign' or 'notation'.
	// +kubebuilder:validation:Enum=cosign;notation
	// +kubebuilder:default:=cosign
	// +required
	Provider string `json:"provider"`

	// SecretRef names a Secret with the trusted public keys; keyless verification when unset.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// MatchOIDCIdentity restricts keyless verification to these issuer/subject pairs.
	// +optional
	MatchOIDCIdentity []OIDCIdentityMatch `json:"matchOIDCIdentity,omitempty"`

	// TrustedRootSecretRef names a Secret whose 'trusted_root.json' holds the Sigstore trusted
	// root to verify against (a private Sigstore deployment) instead of the public one.
	// +optional
	TrustedRootSecretRef *meta.LocalObjectReference `json:"trustedRootSecretRef,omitempty"`
}

// OIDCIdentityMatch holds regular expressions for an OIDC issuer and subject.
type OIDCIdentityMatch struct {
	// Issuer is a regular expression the OIDC issuer must match.
	// +required
	Issuer string `json:"issuer"`

	// Subject is a regular expression the identity's subject must match.
	// +required
	Subject string `json:"subject"`
}

// OCIRepositoryStatus records the observed state of an OCIRepository.
type OCIRepositoryStatus struct {
	// ObservedGeneration is the last generation reconciled to a final state.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the OCIRepository.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// URL of the latest artifact, served by source-controller.
	// +optional
	URL string `json:"url,omitempty"`

	// Artifact is the last successfully stored artifact.
	// +optional
	Artifact *meta.Artifact `json:"artifact,omitempty"`

	// ObservedIgnore is spec.ignore as of the last artifact.
	// +optional
	ObservedIgnore *string `json:"observedIgnore,omitempty"`

	// ObservedLayerSelector is spec.layerSelector as of the last artifact.
	// +optional
	ObservedLayerSelector *OCILayerSelector `json:"observedLayerSelector,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// GetConditions returns the status conditions.
func (in *OCIRepository) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *OCIRepository) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetRequeueAfter returns spec.interval.
func (in *OCIRepository) GetRequeueAfter() time.Duration { return in.Spec.Interval.Duration }

// GetArtifact returns status.artifact.
func (in *OCIRepository) GetArtifact() *meta.Artifact { return in.Status.Artifact }

// IsSuspended returns spec.suspend.
func (in *OCIRepository) IsSuspended() bool { return in.Spec.Suspend }

// GetObservedGeneration returns the generation the status describes.
func (in *OCIRepository) GetObservedGeneration() int64 { return in.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (in *OCIRepository) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetReconcileRequestStatus returns the status's part of the reconcile-request handshake.
func (in *OCIRepository) GetReconcileRequestStatus() *meta.ReconcileRequestStatus {
	return &in.Status.ReconcileRequestStatus
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ocirepo,categories=all;fluxcd;fluxcd-sources
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=flux"
// +kubebuilder:metadata:labels="app.kubernetes.io/component=source-controller"
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// OCIRepository pulls an OCI artifact from a container registry and stores one of its layers.
type OCIRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec OCIRepositorySpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status OCIRepositoryStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// OCIRepositoryList is a list of OCIRepositories.
type OCIRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OCIRepository `json:"items"`
}
