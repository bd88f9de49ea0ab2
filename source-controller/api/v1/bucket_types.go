package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// BucketKind is the kind name of Bucket.
const BucketKind = "Bucket"

// Values of spec.provider of a Bucket.
const (
	BucketProviderGeneric = "generic"
	BucketProviderAmazon  = "aws"
	BucketProviderGoogle  = "gcp"
	BucketProviderAzure   = "azure"
)

// BucketSpec describes an object-storage bucket to pack into an artifact.
// +kubebuilder:validation:XValidation:rule="self.provider == 'aws' || self.provider == 'generic' || !has(self.sts)",message="STS configuration is only supported for the 'aws' and 'generic' Bucket providers"
// +kubebuilder:validation:XValidation:rule="self.provider != 'aws' || !has(self.sts) || self.sts.provider == 'aws'",message="'aws' is the only supported STS provider for the 'aws' Bucket provider"
// +kubebuilder:validation:XValidation:rule="self.provider != 'generic' || !has(self.sts) || self.sts.provider == 'ldap'",message="'ldap' is the only supported STS provider for the 'generic' Bucket provider"
// +kubebuilder:validation:XValidation:rule="!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.secretRef)",message="spec.sts.secretRef is not required for the 'aws' STS provider"
// +kubebuilder:validation:XValidation:rule="!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.certSecretRef)",message="spec.sts.certSecretRef is not required for the 'aws' STS provider"
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountName) || !has(self.secretRef)",message="cannot set both spec.secretRef and spec.serviceAccountName"
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountName) || self.provider != 'generic'",message="spec.serviceAccountName is not supported for the 'generic' Bucket provider"
type BucketSpec struct {
	// Provider of the object storage: 'generic' (any S3 API), 'aws', 'gcp' or 'azure'.
	// +kubebuilder:validation:Enum=generic;aws;gcp;azure
	// +kubebuilder:default:=generic
	// +optional
	Provider string `json:"provider,omitempty"`

	// BucketName is the name of the bucket.
	// +required
	BucketName string `json:"bucketName"`

	// Endpoint is the object storage address, without scheme.
	// +required
	Endpoint string `json:"endpoint"`

	// STS configures a security token service for temporary credentials.
	// +optional
	STS *BucketSTSSpec `json:"sts,omitempty"`

	// Insecure uses plain HTTP.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// Region of the bucket.
	// +optional
	Region string `json:"region,omitempty"`

	// Prefix limits the objects fetched to those with this key prefix.
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// SecretRef names a Secret with 'accesskey' and 'secretkey' (or the provider's keys).
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// CertSecretRef names a Secret with 'ca.crt', and 'tls.crt' and 'tls.key' for mutual TLS.
	// +optional
	CertSecretRef *meta.LocalObjectReference `json:"certSecretRef,omitempty"`

	// ProxySecretRef names a Secret with the proxy 'address', 'username' and 'password'.
	// +optional
	ProxySecretRef *meta.LocalObjectReference `json:"proxySecretRef,omitempty"`

	// ServiceAccountName is the service account whose workload identity authenticates.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// Interval is how often the bucket is checked for changes.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval meta.Duration `json:"interval"`

	// Timeout bounds each bucket operation.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// Ignore replaces the default exclusion list with these gitignore-style patterns.
	// +optional
	Ignore *string `json:"ignore,omitempty"`

	// Suspend stops reconciliation; the last artifact stays available.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// BucketSTSSpec configures a security token service.
type BucketSTSSpec struct {
	// Provider of the STS: 'aws' or 'ldap'.
	// +kubebuilder:validation:Enum=aws;ldap
	// +required
	Provider string `json:"provider"`

	// Endpoint is the HTTP(S) address of the STS.
	// +kubebuilder:validation:Pattern="^(http|https)://.*$"
	// +required
	Endpoint string `json:"endpoint"`

	// SecretRef names a Secret with the LDAP 'username' and 'password'.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// CertSecretRef names a Secret with TLS material for the STS.
	// +optional
	CertSecretRef *meta.LocalObjectReference `json:"certSecretRef,omitempty"`
}

// BucketStatus records the observed state of a Bucket.
type BucketStatus struct {
	// ObservedGeneration is the last generation reconciled to a final state.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the Bucket.
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

	meta.ReconcileRequestStatus `json:",inline"`
}

// GetConditions returns the status conditions.
func (in *Bucket) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *Bucket) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetRequeueAfter returns spec.interval.
func (in *Bucket) GetRequeueAfter() time.Duration { return in.Spec.Interval.Duration }

// GetArtifact returns status.artifact.
func (in *Bucket) GetArtifact() *meta.Artifact { return in.Status.Artifact }

// IsSuspended returns spec.suspend.
func (in *Bucket) IsSuspended() bool { return in.Spec.Suspend }

// GetObservedGeneration returns the generation the status describes.
func (in *Bucket) GetObservedGeneration() int64 { return in.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (in *Bucket) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetReconcileRequestStatus returns the status's part of the reconcile-request handshake.
func (in *Bucket) GetReconcileRequestStatus() *meta.ReconcileRequestStatus {
	return &in.Status.ReconcileRequestStatus
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=all;fluxcd;fluxcd-sources
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.endpoint`
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=flux"
// +kubebuilder:metadata:labels="app.kubernetes.io/component=source-controller"
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// Bucket packs the objects of an object-storage bucket into an artifact.
type Bucket struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec BucketSpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status BucketStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BucketList is a list of Buckets.
type BucketList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Bucket `json:"items"`
}
