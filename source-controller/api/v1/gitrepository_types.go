package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// GitRepositoryKind is the kind name of GitRepository.
const GitRepositoryKind = "GitRepository"

// Values of spec.provider of a GitRepository.
const (
	GitProviderGeneric = "generic"
	GitProviderAWS     = "aws"
	GitProviderAzure   = "azure"
	GitProviderGitHub  = "github"
)

// GitRepositorySpec describes the Git repository to fetch and which revision of it to pack.
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountName) || (has(self.provider) && (self.provider == 'azure' || self.provider == 'aws'))",message="serviceAccountName can only be set when provider is 'azure' or 'aws'"
type GitRepositorySpec struct {
	// URL of the Git repository, over HTTP(S) or SSH.
	// +kubebuilder:validation:Pattern="^(http|https|ssh)://.*$"
	// +required
	URL string `json:"url"`

	// SecretRef names a Secret with the credentials: 'username' and 'password' or
	// 'bearerToken' for HTTPS, 'identity' and 'known_hosts' for SSH, and optionally 'ca.crt',
	// 'tls.crt' and 'tls.key' for TLS.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// Provider selects how to authenticate: 'generic' uses SecretRef; 'aws', 'azure' and
	// 'github' use the cloud's workload identity or a GitHub App.
	// +kubebuilder:validation:Enum=generic;aws;azure;github
	// +optional
	Provider string `json:"provider,omitempty"`

	// ServiceAccountName is the service account whose workload identity authenticates with
	// the 'aws' or 'azure' provider.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// Interval is how often the repository is checked for a new revision.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval meta.Duration `json:"interval"`

	// Timeout bounds each Git operation.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// Reference selects the revision to check out; the 'master' branch when unset.
	// +optional
	Reference *GitRepositoryRef `json:"ref,omitempty"`

	// Verification asks for the commit or tag's OpenPGP or SSH signature to be verified.
	// +optional
	Verification *GitRepositoryVerification `json:"verify,omitempty"`

	// ProxySecretRef names a Secret with the proxy 'address' and optional 'username' and
	// 'password'.
	// +optional
	ProxySecretRef *meta.LocalObjectReference `json:"proxySecretRef,omitempty"`

	// Ignore replaces the default exclusion list with these gitignore-style patterns.
	// +optional
	Ignore *string `json:"ignore,omitempty"`

	// Suspend stops reconciliation; the last artifact stays available.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// RecurseSubmodules also clones the repository's submodules.
	// +optional
	RecurseSubmodules bool `json:"recurseSubmodules,omitempty"`

	// Include copies other GitRepositories' artifacts into this one.
	// +optional
	Include []GitRepositoryInclude `json:"include,omitempty"`

	// SparseCheckout limits the checkout to these directories.
	// +optional
	SparseCheckout []string `json:"sparseCheckout,omitempty"`
}

// GitRepositoryInclude copies a path of another GitRepository's artifact into this artifact.
type GitRepositoryInclude struct {
	// GitRepositoryRef names a GitRepository in the same namespace.
	// +required
	GitRepositoryRef meta.LocalObjectReference `json:"repository"`

	// FromPath is the path to copy from; the whole artifact when empty.
	// +optional
	FromPath string `json:"fromPath,omitempty"`

	// ToPath is where to copy to; the included repository's name when empty.
	// +optional
	ToPath string `json:"toPath,omitempty"`
}

// GetFromPath returns FromPath.
func (in *GitRepositoryInclude) GetFromPath() string { return in.FromPath }

// GetToPath returns ToPath or, when empty, the included repository's name.
func (in *GitRepositoryInclude) GetToPath() string {
	if in.ToPath == "" {
		return in.GitRepositoryRef.Name
	}
	return in.ToPath
}

// GitRepositoryRef selects a Git revision. Precedence: Commit, Name, SemVer, Tag, Branch.
type GitRepositoryRef struct {
	// Branch to check out; 'master' when no other field is set.
	// +optional
	Branch string `json:"branch,omitempty"`

	// Tag to check out.
	// +optional
	Tag string `json:"tag,omitempty"`

	// SemVer is a range over the repository's tags; the highest match is checked out.
	// +optional
	SemVer string `json:"semver,omitempty"`

	// Name is a full reference, such as 'refs/heads/main' or 'refs/pull/420/head'.
	// +optional
	Name string `json:"name,omitempty"`

	// Commit is a SHA to check out; with Branch, the branch is cloned and the commit checked out.
	// +optional
	Commit string `json:"commit,omitempty"`
}

// GitVerificationMode says what to verify the signature of.
type GitVerificationMode string

// Values of spec.verify.mode.
const (
	ModeGitHEAD       GitVerificationMode = "HEAD"
	ModeGitTag        GitVerificationMode = "Tag"
	ModeGitTagAndHEAD GitVerificationMode = "TagAndHEAD"
)

// GitRepositoryVerification configures signature verification.
type GitRepositoryVerification struct {
	// Mode: 'HEAD' verifies the commit, 'Tag' the tag, 'TagAndHEAD' both ('head' means HEAD).
	// +kubebuilder:validation:Enum=head;HEAD;Tag;TagAndHEAD
	// +kubebuilder:default:=HEAD
	// +optional
	Mode GitVerificationMode `json:"mode,omitempty"`

	// SecretRef names a Secret with the trusted public keys.
	// +required
	SecretRef meta.LocalObjectReference `json:"secretRef"`
}

// GitRepositoryStatus records the observed state of a GitRepository.
type GitRepositoryStatus struct {
	// ObservedGeneration is the last generation reconciled to a final state.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the GitRepository.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Artifact is the last successfully stored artifact.
	// +optional
	Artifact *meta.Artifact `json:"artifact,omitempty"`

	// IncludedArtifacts are the artifacts of spec.include at the time of the last artifact.
	// +optional
	IncludedArtifacts []*meta.Artifact `json:"includedArtifacts,omitempty"`

	// ObservedIgnore is spec.ignore as of the last artifact.
	// +optional
	ObservedIgnore *string `json:"observedIgnore,omitempty"`

	// ObservedRecurseSubmodules is spec.recurseSubmodules as of the last artifact.
	// +optional
	ObservedRecurseSubmodules bool `json:"observedRecurseSubmodules,omitempty"`

	// ObservedInclude is spec.include as of the last artifact.
	// +optional
	ObservedInclude []GitRepositoryInclude `json:"observedInclude,omitempty"`

	// ObservedSparseCheckout is spec.sparseCheckout as of the last artifact.
	// +optional
	ObservedSparseCheckout []string `json:"observedSparseCheckout,omitempty"`

	// SourceVerificationMode is the verification mode of the last verified artifact.
	// +optional
	SourceVerificationMode *GitVerificationMode `json:"sourceVerificationMode,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// GetConditions returns the status conditions.
func (in *GitRepository) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *GitRepository) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetRequeueAfter returns spec.interval.
func (in *GitRepository) GetRequeueAfter() time.Duration { return in.Spec.Interval.Duration }

// GetArtifact returns status.artifact.
func (in *GitRepository) GetArtifact() *meta.Artifact { return in.Status.Artifact }

// IsSuspended returns spec.suspend.
func (in *GitRepository) IsSuspended() bool { return in.Spec.Suspend }

// GetObservedGeneration returns the generation the status describes.
func (in *GitRepository) GetObservedGeneration() int64 { return in.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (in *GitRepository) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetReconcileRequestStatus returns the status's part of the reconcile-request handshake.
func (in *GitRepository) GetReconcileRequestStatus() *meta.ReconcileRequestStatus {
	return &in.Status.ReconcileRequestStatus
}

// GetTimeout returns spec.timeout or its default.
func (in *GitRepository) GetTimeout() time.Duration {
	if in.Spec.Timeout != nil {
		return in.Spec.Timeout.Duration
	}
	return defaultTimeout
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=gitrepo;gitrepos,categories=all;fluxcd;fluxcd-sources
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=flux"
// +kubebuilder:metadata:labels="app.kubernetes.io/component=source-controller"
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// GitRepository fetches a Git repository and packs one revision of it into an artifact.
type GitRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec GitRepositorySpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status GitRepositoryStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// GitRepositoryList is a list of GitRepositories.
type GitRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitRepository `json:"items"`
}
