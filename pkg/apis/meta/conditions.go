package meta

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Condition types shared by all reconciled kinds. Ready has normal polarity; Reconciling and
// Stalled are abnormal-true: they are present only while True, which is what kstatus expects.
const (
	ReadyCondition       string = "Ready"
	ReconcilingCondition string = "Reconciling"
	StalledCondition     string = "Stalled"
	HealthyCondition     string = "Healthy"
)

// Condition reasons shared by all reconciled kinds.
const (
	SucceededReason               string = "Succeeded"
	FailedReason                  string = "Failed"
	ProgressingReason             string = "Progressing"
	ProgressingWithRetryReason    string = "ProgressingWithRetry"
	SuspendedReason               string = "Suspended"
	DependencyNotReadyReason      string = "DependencyNotReady"
	ReconciliationSucceededReason string = "ReconciliationSucceeded"
	ReconciliationFailedReason    string = "ReconciliationFailed"
	HealthCheckFailedReason       string = "HealthCheckFailed"
	HealthCheckCanceledReason     string = "HealthCheckCanceled"
	ArtifactFailedReason          string = "ArtifactFailed"
	BuildFailedReason             string = "BuildFailed"
	PruneFailedReason             string = "PruneFailed"
	AccessDeniedReason            string = "AccessDenied"
	InvalidCELExpressionReason    string = "InvalidCELExpression"
	FeatureGateDisabledReason     string = "FeatureGateDisabled"
	InvalidURLReason              string = "InvalidURL"
	InvalidProviderConfigReason   string = "InvalidProviderConfiguration"
	TokenNotFoundReason           string = "TokenNotFound"
	// InvalidDurationReason stalls an object whose spec holds a duration Go cannot represent
	// (an object created before the CRDs refused them).
	InvalidDurationReason string = "InvalidDuration"
)

// Finalizer is the finalizer every Driftless controller sets on the objects it reconciles.
const Finalizer = "finalizers.fluxcd.io"

// ObjectWithConditions is implemented by every kind that carries status conditions.
// +kubebuilder:object:generate=false
type ObjectWithConditions interface {
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}
