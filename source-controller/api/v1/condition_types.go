package v1

// Condition types of the source kinds, besides Ready, Reconciling and Stalled.
const (
	// ArtifactInStorageCondition is True when status.artifact exists in storage.
	ArtifactInStorageCondition string = "ArtifactInStorage"
	// ArtifactOutdatedCondition is True while the stored artifact lags the spec or upstream.
	ArtifactOutdatedCondition string = "ArtifactOutdated"
	// FetchFailedCondition is True when the upstream could not be fetched.
	FetchFailedCondition string = "FetchFailed"
	// BuildFailedCondition is True when a chart could not be built.
	BuildFailedCondition string = "BuildFailed"
	// StorageOperationFailedCondition is True when writing or reading storage failed.
	StorageOperationFailedCondition string = "StorageOperationFailed"
	// IncludeUnavailableCondition is True when an included GitRepository has no artifact.
	IncludeUnavailableCondition string = "IncludeUnavailable"
	// SourceVerifiedCondition reports the outcome of signature verification.
	SourceVerifiedCondition string = "SourceVerified"
)

// Condition reasons of the source kinds.
const (
	GitOperationSucceededReason   string = "GitOperationSucceeded"
	GitOperationFailedReason      string = "GitOperationFailed"
	OCIPullFailedReason           string = "OCIArtifactPullFailed"
	OCILayerOperationFailedReason string = "OCIArtifactLayerOperationFailed"
	BucketOperationFailedReason   string = "BucketOperationFailed"
	IndexationFailedReason        string = "IndexationFailed"
	URLInvalidReason              string = "URLInvalid"
	InvalidChartReferenceReason   string = "InvalidChartReference"
	IndexationSucceededReason     string = "IndexationSucceeded"
	ChartPullFailedReason         string = "ChartPullFailed"
	ChartPullSucceededReason      string = "ChartPullSucceeded"
	ChartPackageFailedReason      string = "ChartPackageFailed"
	ChartPackageSucceededReason   string = "ChartPackageSucceeded"
	AuthenticationFailedReason    string = "AuthenticationFailed"
	VerificationErrorReason       string = "VerificationError"
	DirCreationFailedReason       string = "DirectoryCreationFailed"
	StatOperationFailedReason     string = "StatOperationFailed"
	ReadOperationFailedReason     string = "ReadOperationFailed"
	AcquireLockFailedReason       string = "AcquireLockFailed"
	InvalidPathReason             string = "InvalidPath"
	ArchiveOperationFailedReason  string = "ArchiveOperationFailed"
	SymlinkUpdateFailedReason     string = "SymlinkUpdateFailed"
	ArtifactUpToDateReason        string = "ArtifactUpToDate"
	NewRevisionReason             string = "NewRevision"
	ArtifactInStorageReason       string = "ArtifactInStorage"
	InvalidSTSConfigurationReason string = "InvalidSTSConfiguration"
	InvalidProviderConfigReason   string = "InvalidProviderConfiguration"
)

// SourceIndexKey is the field index consumers use to find the objects referring to a source.
const SourceIndexKey string = ".metadata.source"

// Defaults shared by the source kinds.
const (
	// DefaultTimeout bounds one fetch from upstream.
	DefaultTimeout = "60s"
)
