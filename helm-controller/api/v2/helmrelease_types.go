package v2

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// HelmReleaseKind is the kind name of HelmRelease.
const HelmReleaseKind = "HelmRelease"

// HelmReleaseSpec describes a Helm release: its chart, values, and how to install, upgrade,
// test, roll back and uninstall it.
// +kubebuilder:validation:XValidation:rule="(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))",message="either chart or chartRef must be set"
type HelmReleaseSpec struct {
	// Chart is a template for the HelmChart that source-controller builds for this release.
	// +optional
	Chart *HelmChartTemplate `json:"chart,omitempty"`

	// ChartRef names an existing chart artifact: an OCIRepository, HelmChart or ExternalArtifact.
	// +optional
	ChartRef *CrossNamespaceSourceReference `json:"chartRef,omitempty"`

	// Interval is how often the release is reconciled.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval meta.Duration `json:"interval"`

	// KubeConfig targets a remote cluster instead of the one the controller runs in.
	// +optional
	KubeConfig *meta.KubeConfigReference `json:"kubeConfig,omitempty"`

	// Suspend stops reconciliation; deleting a suspended release leaves it installed.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// ReleaseName is the Helm release name; '[<targetNamespace>-]<name>' when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=53
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`

	// TargetNamespace is the namespace the release is installed into; the HelmRelease's when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// StorageNamespace is where Helm stores the release; the HelmRelease's when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	StorageNamespace string `json:"storageNamespace,omitempty"`

	// DependsOn lists HelmReleases that must be ready before this one is reconciled.
	// +optional
	DependsOn []meta.DependencyReference `json:"dependsOn,omitempty"`

	// Timeout bounds each Kubernetes operation of a Helm action; 5m when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// MaxHistory is the number of release revisions Helm keeps; 5 when unset, 0 for no limit.
	// +optional
	MaxHistory *int `json:"maxHistory,omitempty"`

	// ServiceAccountName is impersonated for every Helm action.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// PersistentClient keeps one Kubernetes client across the actions of a reconciliation.
	// +optional
	PersistentClient *bool `json:"persistentClient,omitempty"`

	// DriftDetection compares the cluster with the release's manifest and may correct it.
	// +optional
	DriftDetection *DriftDetection `json:"driftDetection,omitempty"`

	// Install configures Helm install actions.
	// +optional
	Install *Install `json:"install,omitempty"`

	// Upgrade configures Helm upgrade actions.
	// +optional
	Upgrade *Upgrade `json:"upgrade,omitempty"`

	// Test configures Helm test actions.
	// +optional
	Test *Test `json:"test,omitempty"`

	// Rollback configures Helm rollback actions.
	// +optional
	Rollback *Rollback `json:"rollback,omitempty"`

	// Uninstall configures Helm uninstall actions.
	// +optional
	Uninstall *Uninstall `json:"uninstall,omitempty"`

	// ValuesFrom reads values from ConfigMaps and Secrets, merged in order before Values.
	// +optional
	ValuesFrom []meta.ValuesReference `json:"valuesFrom,omitempty"`

	// Values are inline Helm values, merged last.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Values *runtime.RawExtension `json:"values,omitempty"`

	// PostRenderers run over the rendered manifests, in order.
	// +optional
	PostRenderers []PostRenderer `json:"postRenderers,omitempty"`

	// PostRenderStrategy says whether hooks are post-rendered: 'nohooks', 'combined' or
	// 'separate'.
	// +kubebuilder:validation:Enum=nohooks;combined;separate
	// +optional
	PostRenderStrategy string `json:"postRenderStrategy,omitempty"`

	// CommonMetadata adds labels and annotations to every rendered object.
	// +optional
	CommonMetadata *CommonMetadata `json:"commonMetadata,omitempty"`

	// WaitStrategy chooses how readiness is awaited after an action.
	// +optional
	WaitStrategy *WaitStrategy `json:"waitStrategy,omitempty"`

	// HealthCheckExprs are CEL expressions that compute the health of custom kinds.
	// +optional
	HealthCheckExprs []kustomize.CustomHealthCheck `json:"healthCheckExprs,omitempty"`
}

// HelmChartTemplate is the template of the HelmChart built for a release.
type HelmChartTemplate struct {
	// ObjectMeta holds labels and annotations for the HelmChart.
	// +optional
	ObjectMeta *HelmChartTemplateObjectMeta `json:"metadata,omitempty"`

	// Spec of the HelmChart.
	// +required
	Spec HelmChartTemplateSpec `json:"spec"`
}

// HelmChartTemplateObjectMeta holds labels and annotations for the templated HelmChart.
type HelmChartTemplateObjectMeta struct {
	// Labels of the HelmChart.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations of the HelmChart.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// HelmChartTemplateSpec is the spec of the templated HelmChart.
type HelmChartTemplateSpec struct {
	// Chart is the chart's name in a HelmRepository, or its path in a GitRepository or Bucket.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +required
	Chart string `json:"chart"`

	// Version is a semver range, used only with a HelmRepository source.
	// +kubebuilder:default:=*
	// +optional
	Version string `json:"version,omitempty"`

	// SourceRef names the chart's source.
	// +required
	SourceRef CrossNamespaceObjectReference `json:"sourceRef"`

	// Interval is how often the source is checked for a new chart; the release's when empty.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval *meta.Duration `json:"interval,omitempty"`

	// ReconcileStrategy: 'ChartVersion' or 'Revision'.
	// +kubebuilder:validation:Enum=ChartVersion;Revision
	// +kubebuilder:default:=ChartVersion
	// +optional
	ReconcileStrategy string `json:"reconcileStrategy,omitempty"`

	// ValuesFiles are merged in order over the chart's values.yaml.
	// +optional
	ValuesFiles []string `json:"valuesFiles,omitempty"`

	// IgnoreMissingValuesFiles skips values files that do not exist.
	// +optional
	IgnoreMissingValuesFiles bool `json:"ignoreMissingValuesFiles,omitempty"`

	// Verify asks for an OCI chart's signature to be verified.
	// +optional
	Verify *HelmChartTemplateVerification `json:"verify,omitempty"`
}

// HelmChartTemplateVerification configures the verification of a templated chart.
type HelmChartTemplateVerification struct {
	// Provider of the signature: 'cosign' or 'notation'.
	// +kubebuilder:validation:Enum=cosign;notation
	// +kubebuilder:default:=cosign
	// +required
	Provider string `json:"provider"`

	// SecretRef names a Secret with the trusted public keys.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`
}

// CrossNamespaceObjectReference names a chart source, optionally in another namespace.
type CrossNamespaceObjectReference struct {
	// APIVersion of the source.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the source.
	// +kubebuilder:validation:Enum=HelmRepository;GitRepository;Bucket
	// +required
	Kind string `json:"kind"`

	// Name of the source.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Namespace of the source; the HelmRelease's when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CrossNamespaceSourceReference names a chart artifact, optionally in another namespace.
type CrossNamespaceSourceReference struct {
	// APIVersion of the referent.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the referent.
	// +kubebuilder:validation:Enum=OCIRepository;HelmChart;ExternalArtifact
	// +required
	Kind string `json:"kind"`

	// Name of the referent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Namespace of the referent; the HelmRelease's when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// DriftDetection configures the detection and correction of cluster drift.
type DriftDetection struct {
	// Mode: 'enabled' corrects drift, 'warn' reports it, 'disabled' ignores it.
	// +kubebuilder:validation:Enum=enabled;warn;disabled
	// +optional
	Mode string `json:"mode,omitempty"`

	// Ignore lists fields excluded from drift detection.
	// +optional
	Ignore []IgnoreRule `json:"ignore,omitempty"`
}

// IgnoreRule names JSON pointers excluded from drift detection in the selected objects.
type IgnoreRule struct {
	// Paths are JSON pointers (RFC 6901).
	// +required
	Paths []string `json:"paths"`

	// Target selects the objects; every object when unset.
	// +optional
	Target *kustomize.Selector `json:"target,omitempty"`
}

// CRDsPolicy says what to do with the chart's CRDs.
type CRDsPolicy string

// Values of install.crds and upgrade.crds.
const (
	Skip          CRDsPolicy = "Skip"
	Create        CRDsPolicy = "Create"
	CreateReplace CRDsPolicy = "CreateReplace"
)

// Install configures Helm install actions.
type Install struct {
	// Timeout of the install; spec.timeout when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// Remediation says what to do when the install fails.
	// +optional
	Remediation *InstallRemediation `json:"remediation,omitempty"`

	// Strategy: remediate, or retry without remediating.
	// +optional
	Strategy *Strategy `json:"strategy,omitempty"`

	// DisableTakeOwnership refuses to adopt existing objects not owned by the release.
	// +optional
	DisableTakeOwnership bool `json:"disableTakeOwnership,omitempty"`

	// DisableWait skips waiting for readiness.
	// +optional
	DisableWait bool `json:"disableWait,omitempty"`

	// DisableWaitForJobs skips waiting for Jobs to complete.
	// +optional
	DisableWaitForJobs bool `json:"disableWaitForJobs,omitempty"`

	// DisableHooks skips the chart's hooks.
	// +optional
	DisableHooks bool `json:"disableHooks,omitempty"`

	// DisableOpenAPIValidation skips validating rendered manifests against the cluster's schema.
	// +optional
	DisableOpenAPIValidation bool `json:"disableOpenAPIValidation,omitempty"`

	// DisableSchemaValidation skips validating values against the chart's JSON schema.
	// +optional
	DisableSchemaValidation bool `json:"disableSchemaValidation,omitempty"`

	// Replace reuses a release name that is in the history as deleted.
	// +optional
	Replace bool `json:"replace,omitempty"`

	// SkipCRDs skips the chart's CRDs. Deprecated: use CRDs.
	// +optional
	SkipCRDs bool `json:"skipCRDs,omitempty"`

	// CRDs: 'Skip', 'Create' (the default) or 'CreateReplace'.
	// +kubebuilder:validation:Enum=Skip;Create;CreateReplace
	// +optional
	CRDs CRDsPolicy `json:"crds,omitempty"`

	// CreateNamespace creates the target namespace if it does not exist.
	// +optional
	CreateNamespace bool `json:"createNamespace,omitempty"`

	// ServerSideApply applies with server-side apply (the default) or client-side.
	// +optional
	ServerSideApply *bool `json:"serverSideApply,omitempty"`
}

// Strategy chooses between remediation and plain retries after a failed action.
// +kubebuilder:validation:XValidation:rule="!has(self.retryInterval) || self.name != 'RemediateOnFailure'",message=".retryInterval cannot be set when .name is 'RemediateOnFailure'"
type Strategy struct {
	// Name: 'RemediateOnFailure' or 'RetryOnFailure'.
	// +kubebuilder:validation:Enum=RemediateOnFailure;RetryOnFailure
	// +required
	Name string `json:"name"`

	// RetryInterval between retries with RetryOnFailure; spec.interval when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	RetryInterval *meta.Duration `json:"retryInterval,omitempty"`
}

// InstallRemediation configures remediation of a failed install.
type InstallRemediation struct {
	// Retries is how many times to retry; a negative value retries forever.
	// +optional
	Retries int `json:"retries,omitempty"`

	// IgnoreTestFailures does not treat failed tests as a failed install.
	// +optional
	IgnoreTestFailures *bool `json:"ignoreTestFailures,omitempty"`

	// RemediateLastFailure also remediates after the last retry.
	// +optional
	RemediateLastFailure *bool `json:"remediateLastFailure,omitempty"`
}

// Upgrade configures Helm upgrade actions.
type Upgrade struct {
	// Timeout of the upgrade; spec.timeout when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// Remediation says what to do when the upgrade fails.
	// +optional
	Remediation *UpgradeRemediation `json:"remediation,omitempty"`

	// Strategy: remediate, or retry without remediating.
	// +optional
	Strategy *Strategy `json:"strategy,omitempty"`

	// DisableTakeOwnership refuses to adopt existing objects not owned by the release.
	// +optional
	DisableTakeOwnership bool `json:"disableTakeOwnership,omitempty"`

	// DisableWait skips waiting for readiness.
	// +optional
	DisableWait bool `json:"disableWait,omitempty"`

	// DisableWaitForJobs skips waiting for Jobs to complete.
	// +optional
	DisableWaitForJobs bool `json:"disableWaitForJobs,omitempty"`

	// DisableHooks skips the chart's hooks.
	// +optional
	DisableHooks bool `json:"disableHooks,omitempty"`

	// DisableOpenAPIValidation skips validating rendered manifests against the cluster's schema.
	// +optional
	DisableOpenAPIValidation bool `json:"disableOpenAPIValidation,omitempty"`

	// DisableSchemaValidation skips validating values against the chart's JSON schema.
	// +optional
	DisableSchemaValidation bool `json:"disableSchemaValidation,omitempty"`

	// Force replaces objects that cannot be patched.
	// +optional
	Force bool `json:"force,omitempty"`

	// PreserveValues reuses the last release's values, merged under the new ones.
	// +optional
	PreserveValues bool `json:"preserveValues,omitempty"`

	// CleanupOnFail deletes objects created by a failed upgrade.
	// +optional
	CleanupOnFail bool `json:"cleanupOnFail,omitempty"`

	// CRDs: 'Skip' (the default), 'Create' or 'CreateReplace'.
	// +kubebuilder:validation:Enum=Skip;Create;CreateReplace
	// +optional
	CRDs CRDsPolicy `json:"crds,omitempty"`

	// ServerSideApply: 'enabled', 'disabled' or 'auto' (the method of the last release).
	// +kubebuilder:validation:Enum=enabled;disabled;auto
	// +optional
	ServerSideApply string `json:"serverSideApply,omitempty"`

	// ChartNameChangeStrategy: 'Reinstall' (the default) or 'InPlaceUpdate'.
	// +kubebuilder:validation:Enum=Reinstall;InPlaceUpdate
	// +optional
	ChartNameChangeStrategy string `json:"chartNameChangeStrategy,omitempty"`
}

// UpgradeRemediation configures remediation of a failed upgrade.
type UpgradeRemediation struct {
	// Retries is how many times to retry; a negative value retries forever.
	// +optional
	Retries int `json:"retries,omitempty"`

	// IgnoreTestFailures does not treat failed tests as a failed upgrade.
	// +optional
	IgnoreTestFailures *bool `json:"ignoreTestFailures,omitempty"`

	// RemediateLastFailure also remediates after the last retry; true when Retries > 0.
	// +optional
	RemediateLastFailure *bool `json:"remediateLastFailure,omitempty"`

	// Strategy of remediation: 'rollback' (the default) or 'uninstall'.
	// +kubebuilder:validation:Enum=rollback;uninstall
	// +optional
	Strategy *string `json:"strategy,omitempty"`
}

// Test configures Helm test actions.
type Test struct {
	// Enable runs the chart's tests after install and upgrade.
	// +optional
	Enable bool `json:"enable,omitempty"`

	// Timeout of the test run; spec.timeout when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// IgnoreFailures keeps the release Ready when tests fail.
	// +optional
	IgnoreFailures bool `json:"ignoreFailures,omitempty"`

	// Filters select the tests to run or exclude.
	// +optional
	Filters *[]Filter `json:"filters,omitempty"`
}

// Filter selects a Helm test by name.
type Filter struct {
	// Name of the test.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Exclude excludes the test instead of selecting it.
	// +optional
	Exclude bool `json:"exclude,omitempty"`
}

// Rollback configures Helm rollback actions.
type Rollback struct {
	// Timeout of the rollback; spec.timeout when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// DisableWait skips waiting for readiness.
	// +optional
	DisableWait bool `json:"disableWait,omitempty"`

	// DisableWaitForJobs skips waiting for Jobs to complete.
	// +optional
	DisableWaitForJobs bool `json:"disableWaitForJobs,omitempty"`

	// DisableHooks skips the chart's hooks.
	// +optional
	DisableHooks bool `json:"disableHooks,omitempty"`

	// Recreate restarts pods.
	// +optional
	Recreate bool `json:"recreate,omitempty"`

	// Force replaces objects that cannot be patched.
	// +optional
	Force bool `json:"force,omitempty"`

	// CleanupOnFail deletes objects created by a failed rollback.
	// +optional
	CleanupOnFail bool `json:"cleanupOnFail,omitempty"`

	// ServerSideApply: 'enabled', 'disabled' or 'auto' (the method of the release rolled
	// back to).
	// +kubebuilder:validation:Enum=enabled;disabled;auto
	// +optional
	ServerSideApply string `json:"serverSideApply,omitempty"`
}

// Uninstall configures Helm uninstall actions.
type Uninstall struct {
	// Timeout of the uninstall; spec.timeout when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *meta.Duration `json:"timeout,omitempty"`

	// DisableHooks skips the chart's hooks.
	// +optional
	DisableHooks bool `json:"disableHooks,omitempty"`

	// KeepHistory keeps the release history.
	// +optional
	KeepHistory bool `json:"keepHistory,omitempty"`

	// DisableWait skips waiting for the objects to be deleted.
	// +optional
	DisableWait bool `json:"disableWait,omitempty"`

	// DeletionPropagation: 'background' (the default), 'foreground' or 'orphan'.
	// +kubebuilder:validation:Enum=background;foreground;orphan
	// +kubebuilder:default:=background
	// +optional
	DeletionPropagation *string `json:"deletionPropagation,omitempty"`
}

// PostRenderer transforms the rendered manifests.
type PostRenderer struct {
	// Kustomize applies patches and image overrides.
	// +optional
	Kustomize *Kustomize `json:"kustomize,omitempty"`
}

// Kustomize is a built-in kustomize post-renderer.
type Kustomize struct {
	// Patches are strategic merge or JSON 6902 patches.
	// +optional
	Patches []kustomize.Patch `json:"patches,omitempty"`

	// Images override container images.
	// +optional
	Images []kustomize.Image `json:"images,omitempty"`
}

// CommonMetadata holds labels and annotations added to every rendered object.
type CommonMetadata struct {
	// Annotations to add.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Labels to add.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// WaitStrategy chooses how readiness is awaited.
type WaitStrategy struct {
	// Name: 'poller' (kstatus, the default) or 'legacy' (Helm's own wait).
	// +kubebuilder:validation:Enum=poller;legacy
	// +required
	Name string `json:"name"`
}

// Snapshot records one release revision.
type Snapshot struct {
	// APIVersion of the snapshot format.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Digest of the release object.
	// +required
	Digest string `json:"digest"`
	// Name of the release.
	// +required
	Name string `json:"name"`
	// Namespace of the release.
	// +required
	Namespace string `json:"namespace"`
	// Version is the release revision.
	// +required
	Version int `json:"version"`
	// Status of the release.
	// +required
	Status string `json:"status"`
	// Action that produced the release.
	// +optional
	Action string `json:"action,omitempty"`
	// ChartName of the release.
	// +required
	ChartName string `json:"chartName"`
	// ChartVersion of the release.
	// +required
	ChartVersion string `json:"chartVersion"`
	// AppVersion of the chart.
	// +optional
	AppVersion string `json:"appVersion,omitempty"`
	// ConfigDigest is the digest of the release's values.
	// +required
	ConfigDigest string `json:"configDigest"`
	// FirstDeployed is when the release was first deployed.
	// +required
	FirstDeployed metav1.Time `json:"firstDeployed"`
	// LastDeployed is when the release was last deployed.
	// +required
	LastDeployed metav1.Time `json:"lastDeployed"`
	// Deleted is when the release was deleted.
	// +optional
	Deleted metav1.Time `json:"deleted,omitempty"`
	// TestHooks holds the test hooks of the release and their state.
	// +optional
	TestHooks *map[string]*TestHookStatus `json:"testHooks,omitempty"`
	// OCIDigest is the digest of the OCI chart.
	// +optional
	OCIDigest string `json:"ociDigest,omitempty"`
}

// TestHookStatus records one test hook's run.
type TestHookStatus struct {
	// LastStarted is when the test last started.
	// +optional
	LastStarted metav1.Time `json:"lastStarted,omitempty"`
	// LastCompleted is when the test last completed.
	// +optional
	LastCompleted metav1.Time `json:"lastCompleted,omitempty"`
	// Phase of the test.
	// +optional
	Phase string `json:"phase,omitempty"`
}

// Snapshots is a release history, newest first.
type Snapshots []*Snapshot

// ResourceInventory lists the objects of the release.
type ResourceInventory struct {
	// Entries of the inventory.
	Entries []ResourceRef `json:"entries"`
}

// ResourceRef identifies one object of the release.
type ResourceRef struct {
	// ID is '<namespace>_<name>_<group>_<kind>'.
	// +required
	ID string `json:"id"`
	// Version is the object's API version.
	// +required
	Version string `json:"v"`
}

// HelmReleaseStatus records the observed state of a HelmRelease.
type HelmReleaseStatus struct {
	// ObservedGeneration is the last generation reconciled to a final state.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// ObservedPostRenderersDigest is the digest of spec.postRenderers last applied.
	// +optional
	ObservedPostRenderersDigest string `json:"observedPostRenderersDigest,omitempty"`
	// ObservedCommonMetadataDigest is the digest of spec.commonMetadata last applied.
	// +optional
	ObservedCommonMetadataDigest string `json:"observedCommonMetadataDigest,omitempty"`
	// LastAttemptedGeneration is the last generation attempted.
	// +optional
	LastAttemptedGeneration int64 `json:"lastAttemptedGeneration,omitempty"`
	// Conditions of the HelmRelease.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// HelmChart is '<namespace>/<name>' of the HelmChart built from spec.chart.
	// +optional
	HelmChart string `json:"helmChart,omitempty"`
	// StorageNamespace is where the release is stored.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	StorageNamespace string `json:"storageNamespace,omitempty"`
	// History of release revisions, newest first, back to the previous success.
	// +optional
	History Snapshots `json:"history,omitempty"`
	// Inventory lists the objects of the release.
	// +optional
	Inventory *ResourceInventory `json:"inventory,omitempty"`
	// LastAttemptedReleaseAction is 'install' or 'upgrade'.
	// +kubebuilder:validation:Enum=install;upgrade
	// +optional
	LastAttemptedReleaseAction string `json:"lastAttemptedReleaseAction,omitempty"`
	// LastAttemptedReleaseActionDuration is how long the last action took.
	// +optional
	LastAttemptedReleaseActionDuration *meta.Duration `json:"lastAttemptedReleaseActionDuration,omitempty"`
	// Failures counts failures since the last success.
	// +optional
	Failures int64 `json:"failures,omitempty"`
	// InstallFailures counts install failures since the last success.
	// +optional
	InstallFailures int64 `json:"installFailures,omitempty"`
	// UpgradeFailures counts upgrade failures since the last success.
	// +optional
	UpgradeFailures int64 `json:"upgradeFailures,omitempty"`
	// LastAttemptedRevision is the chart version last attempted.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// LastAttemptedRevisionDigest is the OCI digest of the chart last attempted.
	// +optional
	LastAttemptedRevisionDigest string `json:"lastAttemptedRevisionDigest,omitempty"`
	// LastAttemptedValuesChecksum is the checksum of the values last attempted.
	// +optional
	LastAttemptedValuesChecksum string `json:"lastAttemptedValuesChecksum,omitempty"`
	// LastReleaseRevision is the release revision last handled.
	// +optional
	LastReleaseRevision int `json:"lastReleaseRevision,omitempty"`
	// LastAttemptedConfigDigest is the digest of the values last attempted.
	// +optional
	LastAttemptedConfigDigest string `json:"lastAttemptedConfigDigest,omitempty"`
	// LastHandledForceAt is the forceAt value last handled.
	// +optional
	LastHandledForceAt string `json:"lastHandledForceAt,omitempty"`
	// LastHandledResetAt is the resetAt value last handled.
	// +optional
	LastHandledResetAt string `json:"lastHandledResetAt,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// GetConditions returns the status conditions.
func (in *HelmRelease) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *HelmRelease) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetRequeueAfter returns spec.interval.
func (in *HelmRelease) GetRequeueAfter() time.Duration { return in.Spec.Interval.Duration }

// IsSuspended returns spec.suspend.
func (in *HelmRelease) IsSuspended() bool { return in.Spec.Suspend }

// GetObservedGeneration returns the generation the status describes.
func (in *HelmRelease) GetObservedGeneration() int64 { return in.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (in *HelmRelease) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetReconcileRequestStatus returns the status's part of the reconcile-request handshake.
func (in *HelmRelease) GetReconcileRequestStatus() *meta.ReconcileRequestStatus {
	return &in.Status.ReconcileRequestStatus
}

// GetTimeout returns spec.timeout or its default of five minutes.
func (in *HelmRelease) GetTimeout() time.Duration {
	if in.Spec.Timeout != nil {
		return in.Spec.Timeout.Duration
	}
	return 5 * time.Minute
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=hr,categories=all;fluxcd;fluxcd-appliers
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=flux"
// +kubebuilder:metadata:labels="app.kubernetes.io/component=helm-controller"
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// HelmRelease keeps a Helm release equal to its chart and values.
type HelmRelease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec HelmReleaseSpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status HelmReleaseStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// HelmReleaseList is a list of HelmReleases.
type HelmReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HelmRelease `json:"items"`
}
