package v2

// Condition types of HelmRelease, besides Ready, Reconciling and Stalled.
const (
	ReleasedCondition    string = "Released"
	TestSuccessCondition string = "TestSuccess"
	RemediatedCondition  string = "Remediated"
	DriftedCondition     string = "Drifted"
)

// Condition reasons of HelmRelease.
const (
	InstallSucceededReason      string = "InstallSucceeded"
	InstallFailedReason         string = "InstallFailed"
	UpgradeSucceededReason      string = "UpgradeSucceeded"
	UpgradeFailedReason         string = "UpgradeFailed"
	TestSucceededReason         string = "TestSucceeded"
	TestFailedReason            string = "TestFailed"
	RollbackSucceededReason     string = "RollbackSucceeded"
	RollbackFailedReason        string = "RollbackFailed"
	UninstallSucceededReason    string = "UninstallSucceeded"
	UninstallFailedReason       string = "UninstallFailed"
	DriftDetectedReason         string = "DriftDetected"
	NoDriftDetectedReason       string = "NoDriftDetected"
	RetriesExceededReason       string = "RetriesExceeded"
	MissingRollbackTargetReason string = "MissingRollbackTarget"
	InitFailedReason            string = "InitFailed"
	GetLastReleaseFailedReason  string = "GetLastReleaseFailed"
)
