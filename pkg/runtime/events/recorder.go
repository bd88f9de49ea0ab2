package events

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"

	eventv1 "github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
)

// EventTypeTrace marks an event that goes to Kubernetes only (as Normal), never to
// notification-controller.
const EventTypeTrace = "Trace"

// Recorder emits Kubernetes events and forwards them to notification-controller.
type Recorder struct {
	k8s        record.EventRecorder
	scheme     *runtime.Scheme
	controller string
	instance   string
	poster     *Poster
	log        logr.Logger
}

// NewRecorder returns a Recorder. poster may be nil, when no --events-addr is set.
func NewRecorder(k8s record.EventRecorder, scheme *runtime.Scheme, controller string, poster *Poster, log logr.Logger) *Recorder {
	host, _ := os.Hostname()
	return &Recorder{k8s: k8s, scheme: scheme, controller: controller, instance: host, poster: poster, log: log}
}

// Event records an event with a fixed message.
func (r *Recorder) Event(obj runtime.Object, eventType, reason, message string) {
	r.AnnotatedEventf(obj, nil, eventType, reason, "%s", message)
}

// Eventf records an event with a formatted message.
func (r *Recorder) Eventf(obj runtime.Object, eventType, reason, format string, args ...any) {
	r.AnnotatedEventf(obj, nil, eventType, reason, format, args...)
}

// AnnotatedEventf records an event with metadata. Metadata keys are sent as they are, so they
// should carry the object's API group prefix ('source.toolkit.fluxcd.io/revision'); the object's
// annotations prefixed 'event.toolkit.fluxcd.io/' are added.
func (r *Recorder) AnnotatedEventf(obj runtime.Object, metadata map[string]string, eventType, reason, format string, args ...any) {
	message := redact.String(fmt.Sprintf(format, args...))
	if len(message) > eventv1.MaxMessageLength {
		message = message[:eventv1.MaxMessageLength]
	}

	k8sType := eventType
	if eventType == EventTypeTrace {
		k8sType = corev1.EventTypeNormal
	}
	if len(metadata) > 0 {
		r.k8s.AnnotatedEventf(obj, metadata, k8sType, reason, "%s", message)
	} else {
		r.k8s.Event(obj, k8sType, reason, message)
	}

	if r.poster == nil || eventType == EventTypeTrace {
		return
	}
	ev, err := r.build(obj, metadata, eventType, reason, message)
	if err != nil {
		r.log.Error(err, "building event for notification-controller")
		return
	}
	r.poster.Enqueue(ev)
}

func (r *Recorder) build(obj runtime.Object, metadata map[string]string, eventType, reason, message string) (*eventv1.Event, error) {
	ref, err := reference.GetReference(r.scheme, obj)
	if err != nil {
		return nil, fmt.Errorf("referencing %T: %w", obj, err)
	}
	meta := make(map[string]string, len(metadata))
	for k, v := range metadata {
		meta[k] = v
	}
	if accessor, ok := obj.(metav1.Object); ok {
		for k, v := range accessor.GetAnnotations() {
			if strings.HasPrefix(k, eventv1.MetaPrefix) {
				meta[k] = v
			}
		}
	}
	if len(meta) == 0 {
		meta = nil
	}
	severity := eventv1.SeverityInfo
	if eventType == corev1.EventTypeWarning {
		severity = eventv1.SeverityError
	}
	return &eventv1.Event{
		InvolvedObject:      *ref,
		Severity:            severity,
		Timestamp:           metav1.NewTime(time.Now().UTC()),
		Message:             message,
		Reason:              reason,
		Metadata:            meta,
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
	}, nil
}

// Start runs the poster until ctx ends; it satisfies controller-runtime's Runnable.
func (r *Recorder) Start(ctx context.Context) error {
	if r.poster == nil {
		<-ctx.Done()
		return nil
	}
	return r.poster.Start(ctx)
}
