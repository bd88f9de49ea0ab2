package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// KustomizationKind is the kind name of Kustomization.
const KustomizationKind = "Kustomization"

// Values of spec.deletionPolicy.
const (
	DeletionPolicyMirrorPrune        = "MirrorPrune"
	DeletionPolicyDelete             = "Delete"
	DeletionPolicyWaitForTermination = "WaitForTermination"
	DeletionPolicyOrphan             = "Orphan"
)

// Per-object annotations and labels that steer apply and prune.
const (
	SSAAnnotation          = "kustomize.toolkit.fluxcd.io/ssa"
	ForceAnnotation        = "kustomize.toolkit.fluxcd.io/force"
	PruneAnnotation        = "kustomize.toolkit.fluxcd.io/prune"
	ReconcileAnnotation    = "kustomize.toolkit.fluxcd.io/reconcile"
	DecryptAnnotation      = "kustomize.toolkit.fluxcd.io/decrypt"
	SubstituteAnnotation   = "kustomize.toolkit.fluxcd.io/substitute"
	NameLabel              = "kustomize.toolkit.fluxcd.io/name"
	NamespaceLabel         = "kustomize.toolkit.fluxcd.io/namespace"
	DisabledValue          = "disabled"
	EnabledValue           = "enabled"
	MergeValue             = "merge"
	IfNotPresentValue      = "ifnotpresent"
	IgnoreValue            = "ignore"
	OverrideValue          = "override"
	DecryptionProviderSOPS = "sops"
)

// spec.postBuild.substituteStrategy values.
const (
	// SubstituteWithVariables substitutes only when at least one variable is defined.
	SubstituteWithVariables = "WithVariables"
	// SubstituteAlways substitutes even without variables: escapes are unescaped and, in
	// strict mode, undefined variables are errors.
	SubstituteAlways = "Always"
)

// BuildMetadataOption is one of kustomize's build metadata options.
// +kubebuilder:validation:Enum=originAnnotations;transformerAnnotations
type BuildMetadataOption string

// The build metadata options.
const (
	BuildMetadataOriginAnnotations      BuildMetadataOption = "originAnnotations"
	BuildMetadataTransformerAnnotations BuildMetadataOption = "transformerAnnotations"
)

// KustomizationSpec describes what to build from a source and how to apply it.
type KustomizationSpec struct {
	// CommonMetadata adds labels and annotations to every applied object.
	// +optional
	CommonMetadata *CommonMetadata `json:"commonMetadata,omitempty"`

	// DependsOn lists Kustomizations that must be ready before this one is applied.
	// +optional
	DependsOn []meta.DependencyReference `json:"dependsOn,omitempty"`

	// Decryption configures the decryption of SOPS-encrypted manifests.
	// +optional
	Decryption *Decryption `json:"decryption,omitempty"`

	// Interval is how often the Kustomization is reconciled.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval meta.Duration `json:"interval"`

	// RetryInterval is how soon a failed reconciliation is retried; Interval when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	RetryInterval *meta.Duration `json:"retryInterval,omitempty"`

	// KubeConfig targets a remote cluster instead of the one the controller runs in.
	// +optional
	KubeConfig *meta.KubeConfigReference `json:"kubeConfig,omitempty"`

	// Path to the directory with the kustomization.yaml, relative to the artifact root;
	// the root when empty.
	// +optional
	Path string `json:"path,omitempty"`

	// PostBuild substitutes variables in the built manifests.
	// +optional
	PostBuild *PostBuild `json:"postBuild,omitempty"`

	// Prune deletes the objects that left the build since the last apply.
	// +required
	Prune bool `json:"prune"`

	// HealthChecks lists objects whose health decides this Kustomization's readiness.
	// +optional
	HealthChecks []meta.NamespacedObjectKindReference `json:"healthChecks,omitempty"`

	// NamePrefix is prepended to every object's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +optional
	NamePrefix string `json:"namePrefix,omitempty"`

	// NameSuffix is appended to every object's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +optional
	NameSuffix string `json:"nameSuffix,omitempty"`

	// Patches are strategic merge or JSON 6902 patches applied over the build.
	// +optional
	Patches []kustomize.Patch `json:"patches,omitempty"`

	// Images override container images, as kustomize's images field does.
	// +optional
	Images []kustomize.Image `json:"images,omitempty"`

	// ServiceAccountName is impersonated when applying and pruning.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// SourceRef names the source whose artifact is built.
	// +required
	SourceRef CrossNamespaceSourceReference `json:"sourceRef"`

	// Suspend stops reconciliation; the applied objects stay as they are.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// TargetNamespace sets or overrides the namespace of every namespaced object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// Timeout bounds build, apply and health checking; Interval when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// Force recreates objects whose immutable fields changed.
	// +kubebuilder:default:=false
	// +optional
	Force bool `json:"force,omitempty"`

	// Wait checks the health of every applied object; HealthChecks are then ignored.
	// +optional
	Wait bool `json:"wait,omitempty"`

	// Components are kustomize components to include, relative to Path.
	// +optional
	Components []string `json:"components,omitempty"`

	// IgnoreMissingComponents skips components whose directory does not exist.
	// +optional
	IgnoreMissingComponents bool `json:"ignoreMissingComponents,omitempty"`

	// BuildMetadata asks kustomize to record how each object was built, as its
	// kustomization.yaml buildMetadata field does: 'originAnnotations' (the file or generator
	// an object came from) and 'transformerAnnotations' (the transformers that changed it).
	// +optional
	BuildMetadata []BuildMetadataOption `json:"buildMetadata,omitempty"`

	// DeletionPolicy says what happens to the applied objects when the Kustomization is
	// deleted: 'MirrorPrune' (follow spec.prune), 'Delete', 'WaitForTermination' or 'Orphan'.
	// +kubebuilder:validation:Enum=MirrorPrune;Delete;WaitForTermination;Orphan
	// +optional
	DeletionPolicy string `json:"deletionPolicy,omitempty"`

	// HealthCheckExprs are CEL expressions that compute the health of custom kinds.
	// +optional
	HealthCheckExprs []kustomize.CustomHealthCheck `json:"healthCheckExprs,omitempty"`

	// Ignore lists fields that apply leaves alone (drift-ignore rules).
	// +optional
	Ignore []IgnoreRule `json:"ignore,omitempty"`
}

// CommonMetadata holds labels and annotations added to every applied object.
type CommonMetadata struct {
	// Annotations to add.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Labels to add.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// Decryption configures how encrypted manifests are decrypted.
type Decryption struct {
	// Provider of the encryption; only 'sops'.
	// +kubebuilder:validation:Enum=sops
	// +required
	Provider string `json:"provider"`

	// SecretRef names a Secret with the decryption keys ('*.agekey', '*.asc', 'sops.*').
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// ServiceAccountName is the service account whose workload identity reaches a cloud KMS.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// PostBuild describes variable substitution over the built manifests.
type PostBuild struct {
	// Substitute maps variable names to values; '${var}' in the manifests is replaced.
	// +optional
	Substitute map[string]string `json:"substitute,omitempty"`

	// SubstituteFrom reads variables from ConfigMaps and Secrets, in order; Substitute wins.
	// +optional
	SubstituteFrom []SubstituteReference `json:"substituteFrom,omitempty"`

	// SubstituteStrategy is WithVariables (the default: manifests are left as built when no
	// variable is defined) or Always.
	// +kubebuilder:validation:Enum=WithVariables;Always
	// +optional
	SubstituteStrategy string `json:"substituteStrategy,omitempty"`
}

// SubstituteReference names a ConfigMap or Secret holding substitution variables.
type SubstituteReference struct {
	// Kind of the referent.
	// +kubebuilder:validation:Enum=Secret;ConfigMap
	// +required
	Kind string `json:"kind"`

	// Name of the referent, in the Kustomization's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Optional tolerates a missing referent.
	// +kubebuilder:default:=false
	// +optional
	Optional bool `json:"optional,omitempty"`
}

// CrossNamespaceSourceReference names a source, optionally in another namespace.
type CrossNamespaceSourceReference struct {
	// APIVersion of the source.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the source.
	// +kubebuilder:validation:Enum=OCIRepository;GitRepository;Bucket;ExternalArtifact
	// +required
	Kind string `json:"kind"`

	// Name of the source.
	// +required
	Name string `json:"name"`

	// Namespace of the source; the Kustomization's namespace when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// String returns 'Kind/namespace/name' or 'Kind/name'.
func (in CrossNamespaceSourceReference) String() string {
	if in.Namespace != "" {
		return in.Kind + "/" + in.Namespace + "/" + in.Name
	}
	return in.Kind + "/" + in.Name
}

// IgnoreRule names JSON pointers to leave alone in the selected objects.
type IgnoreRule struct {
	// Paths are JSON pointers (RFC 6901) into the object.
	// +required
	Paths []string `json:"paths"`

	// Target selects the objects; every object when unset.
	// +optional
	Target *kustomize.Selector `json:"target,omitempty"`
}

// ResourceInventory lists the objects a Kustomization applied.
type ResourceInventory struct {
	// Entries of the inventory.
	Entries []ResourceRef `json:"entries"`
}

// ResourceRef identifies one applied object.
type ResourceRef struct {
	// ID is '<namespace>_<name>_<group>_<kind>'.
	// +required
	ID string `json:"id"`

	// Version is the object's API version.
	// +required
	Version string `json:"v"`
}

// KustomizationStatus records the observed state of a Kustomization.
type KustomizationStatus struct {
	meta.ReconcileRequestStatus `json:",inline"`

	// ObservedGeneration is the last generation reconciled to a final state.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the Kustomization.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastAppliedRevision is the source revision last applied successfully.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`

	// LastAppliedOriginRevision is the origin revision (OCI annotation) last applied.
	// +optional
	LastAppliedOriginRevision string `json:"lastAppliedOriginRevision,omitempty"`

	// LastAttemptedRevision is the source revision last attempted.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`

	// Inventory lists the objects applied by the last successful reconciliation.
	// +optional
	Inventory *ResourceInventory `json:"inventory,omitempty"`

	// History holds up to five snapshots of past reconciliations, newest first.
	// +optional
	History meta.History `json:"history,omitempty"`
}

// GetConditions returns the status conditions.
func (in *Kustomization) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *Kustomization) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetRequeueAfter returns spec.interval.
func (in *Kustomization) GetRequeueAfter() time.Duration { return in.Spec.Interval.Duration }

// GetRetryInterval returns spec.retryInterval, or spec.interval when unset.
func (in *Kustomization) GetRetryInterval() time.Duration {
	if in.Spec.RetryInterval != nil {
		return in.Spec.RetryInterval.Duration
	}
	return in.GetRequeueAfter()
}

// GetTimeout returns spec.timeout, or spec.interval when unset.
func (in *Kustomization) GetTimeout() time.Duration {
	if in.Spec.Timeout != nil {
		return in.Spec.Timeout.Duration
	}
	return in.Spec.Interval.Duration
}

// IsSuspended returns spec.suspend.
func (in *Kustomization) IsSuspended() bool { return in.Spec.Suspend }

// GetObservedGeneration returns the generation the status describes.
func (in *Kustomization) GetObservedGeneration() int64 { return in.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (in *Kustomization) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetReconcileRequestStatus returns the status's part of the reconcile-request handshake.
func (in *Kustomization) GetReconcileRequestStatus() *meta.ReconcileRequestStatus {
	return &in.Status.ReconcileRequestStatus
}

// GetDeletionPolicy returns spec.deletionPolicy or its default, MirrorPrune.
func (in *Kustomization) GetDeletionPolicy() string {
	if in.Spec.DeletionPolicy == "" {
		return DeletionPolicyMirrorPrune
	}
	return in.Spec.DeletionPolicy
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ks,categories=all;fluxcd;fluxcd-appliers
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=flux"
// +kubebuilder:metadata:labels="app.kubernetes.io/component=kustomize-controller"
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// Kustomization builds a path of a source's artifact with kustomize and keeps the cluster
// equal to the result.
type Kustomization struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec KustomizationSpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status KustomizationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// KustomizationList is a list of Kustomizations.
type KustomizationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Kustomization `json:"items"`
}
