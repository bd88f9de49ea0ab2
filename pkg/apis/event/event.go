package event

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group is the API group that names this event format.
const Group = "event.toolkit.fluxcd.io"

// MetaPrefix prefixes object annotations that are copied into an event's metadata.
const MetaPrefix = Group + "/"

// Severities of an event. Trace events stay in Kubernetes and are never posted.
const (
	SeverityTrace = "trace"
	SeverityInfo  = "info"
	SeverityError = "error"
)

// Metadata keys, prefixed with the involved object's API group on the wire.
const (
	MetaRevisionKey        = "revision"
	MetaOriginRevisionKey  = "originRevision"
	MetaDigestKey          = "digest"
	MetaTokenKey           = "token"
	MetaCommitStatusKey    = "commit_status"
	MetaCommitStatusUpdate = "update"
	// MetaChangeRequestKey names the pull or merge request an event is about; the comment
	// Providers post to it.
	MetaChangeRequestKey = "change_request"
)

// MaxMessageLength is the longest message an event carries; longer ones are truncated.
const MaxMessageLength = 39000

// Event is a record of something that happened to a Driftless object.
type Event struct {
	// InvolvedObject is the object the event is about.
	InvolvedObject corev1.ObjectReference `json:"involvedObject"`

	// Severity: 'trace', 'info' or 'error'.
	Severity string `json:"severity"`

	// Timestamp of the event.
	Timestamp metav1.Time `json:"timestamp"`

	// Message says what happened, for people.
	Message string `json:"message"`

	// Reason is a short CamelCase reason, usually the Ready condition's.
	Reason string `json:"reason"`

	// Metadata holds details such as the source revision.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`

	// ReportingController is the name of the controller that emitted the event.
	ReportingController string `json:"reportingController"`

	// ReportingInstance is the controller instance (its host name).
	// +optional
	ReportingInstance string `json:"reportingInstance,omitempty"`
}

// HasReason reports whether the event has the given reason.
func (in *Event) HasReason(reason string) bool { return in.Reason == reason }

// HasMetadata reports whether the event carries the metadata key with the value.
func (in *Event) HasMetadata(key, value string) bool {
	v, ok := in.Metadata[key]
	return ok && v == value
}
