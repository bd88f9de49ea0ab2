package lifecycle

import (
	"errors"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

const (
	fetchFailed = "FetchFailed"
	inStorage   = "ArtifactInStorage"
	healthy     = "Healthy"
)

var testPolicy = &Policy[*sourcev1.GitRepository]{
	Kind:         "GitRepository",
	Conditions:   []string{fetchFailed, inStorage, healthy},
	Negative:     []string{fetchFailed},
	FailedReason: meta.FailedReason,
	Ready: func(o *sourcev1.GitRepository) (string, string) {
		return meta.SucceededReason, "stored artifact for revision '" + o.Status.Artifact.Revision + "'"
	},
}

// cond is the expected status and reason of one condition; "" status means absent.
type cond struct {
	status metav1.ConditionStatus
	reason string
}

func TestSummarize(t *testing.T) {
	fetchErr := errors.New("connection refused")
	tests := []struct {
		name   string
		before func(o *sourcev1.GitRepository)
		err    error
		want   map[string]cond
		// observed is whether observedGeneration is recorded.
		observed bool
	}{{
		name: "success after a failure",
		before: func(o *sourcev1.GitRepository) {
			conditions.MarkReconciling(o, meta.ProgressingWithRetryReason, "retrying")
			conditions.MarkFalse(o, meta.ReadyCondition, "GitOperationFailed", "x")
		},
		want: map[string]cond{
			meta.ReadyCondition:       {metav1.ConditionTrue, meta.SucceededReason},
			meta.ReconcilingCondition: {},
			meta.StalledCondition:     {},
		},
		observed: true,
	}, {
		name: "a failure on a negative condition",
		err:  Failed(fetchFailed, "GitOperationFailed", fetchErr),
		want: map[string]cond{
			meta.ReadyCondition:       {metav1.ConditionFalse, "GitOperationFailed"},
			meta.ReconcilingCondition: {metav1.ConditionTrue, meta.ProgressingWithRetryReason},
			fetchFailed:               {metav1.ConditionTrue, "GitOperationFailed"},
		},
	}, {
		name: "a failure on a positive condition",
		err:  Failed(healthy, meta.HealthCheckFailedReason, errors.New("timeout")),
		want: map[string]cond{
			meta.ReadyCondition: {metav1.ConditionFalse, meta.HealthCheckFailedReason},
			healthy:             {metav1.ConditionFalse, meta.HealthCheckFailedReason},
		},
	}, {
		name: "an untyped error takes the kind's failure reason",
		err:  fmt.Errorf("patching: %w", errors.New("conflict")),
		want: map[string]cond{
			meta.ReadyCondition:       {metav1.ConditionFalse, meta.FailedReason},
			meta.ReconcilingCondition: {metav1.ConditionTrue, meta.ProgressingWithRetryReason},
		},
	}, {
		name: "a stall removes Reconciling and records the generation",
		before: func(o *sourcev1.GitRepository) {
			conditions.MarkReconciling(o, meta.ProgressingWithRetryReason, "retrying")
		},
		err: Stalled(fetchFailed, meta.InvalidURLReason, errors.New("bad url")),
		want: map[string]cond{
			meta.ReadyCondition:       {metav1.ConditionFalse, meta.InvalidURLReason},
			meta.StalledCondition:     {metav1.ConditionTrue, meta.InvalidURLReason},
			meta.ReconcilingCondition: {},
			fetchFailed:               {metav1.ConditionTrue, meta.InvalidURLReason},
		},
		observed: true,
	}, {
		name: "waiting says why and nothing is in progress",
		before: func(o *sourcev1.GitRepository) {
			conditions.MarkStalled(o, meta.InvalidURLReason, "old")
		},
		err: Waiting(meta.DependencyNotReadyReason, time.Second, "dependency '%s' is not ready", "ns/a"),
		want: map[string]cond{
			meta.ReadyCondition:       {metav1.ConditionFalse, meta.DependencyNotReadyReason},
			meta.ReconcilingCondition: {},
			meta.StalledCondition:     {},
		},
	}, {
		name: "progressing",
		err:  Progressing(healthy, time.Second, "running health checks"),
		want: map[string]cond{
			meta.ReadyCondition:       {metav1.ConditionUnknown, meta.ProgressingReason},
			meta.ReconcilingCondition: {metav1.ConditionTrue, meta.ProgressingReason},
			healthy:                   {metav1.ConditionUnknown, meta.ProgressingReason},
		},
	}, {
		name: "a negative condition left True keeps Ready False",
		before: func(o *sourcev1.GitRepository) {
			conditions.MarkTrue(o, fetchFailed, "GitOperationFailed", "stale")
		},
		want: map[string]cond{
			meta.ReadyCondition: {metav1.ConditionFalse, "GitOperationFailed"},
		},
	}, {
		name: "conditions the kind does not own are dropped, its own are kept",
		before: func(o *sourcev1.GitRepository) {
			conditions.MarkTrue(o, "SomethingOld", "Legacy", "from another version")
			conditions.MarkTrue(o, inStorage, meta.SucceededReason, "stored")
		},
		want: map[string]cond{
			meta.ReadyCondition: {metav1.ConditionTrue, meta.SucceededReason},
			"SomethingOld":      {},
			inStorage:           {metav1.ConditionTrue, meta.SucceededReason},
		},
		observed: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &sourcev1.GitRepository{}
			o.Generation = 4
			o.Status.ObservedGeneration = 2
			o.Status.Artifact = &meta.Artifact{Revision: "main@sha1:abc"}
			if tt.before != nil {
				tt.before(o)
			}
			testPolicy.Summarize(o, tt.err)
			for typ, w := range tt.want {
				c := conditions.Get(o, typ)
				switch {
				case w.status == "" && c != nil:
					t.Errorf("%s = %s/%s, want it absent", typ, c.Status, c.Reason)
				case w.status != "" && (c == nil || c.Status != w.status || c.Reason != w.reason):
					t.Errorf("%s = %+v, want %s/%s", typ, c, w.status, w.reason)
				}
			}
			if got := o.Status.ObservedGeneration == 4; got != tt.observed {
				t.Errorf("observedGeneration = %d, recorded %v, want %v", o.Status.ObservedGeneration, got, tt.observed)
			}
			if tt.err != nil && conditions.GetMessage(o, meta.ReadyCondition) != tt.err.Error() {
				if c := conditions.Get(o, meta.ReadyCondition); c.Status == metav1.ConditionFalse {
					t.Errorf("Ready message = %q, want %q", c.Message, tt.err.Error())
				}
			}
		})
	}
}

func TestSummarizeHandlesTheReconcileRequest(t *testing.T) {
	for _, err := range []error{nil, errors.New("x"), Stalled("", "Bad", errors.New("y"))} {
		o := &sourcev1.GitRepository{}
		o.Annotations = map[string]string{meta.ReconcileRequestAnnotation: "now"}
		o.Status.Artifact = &meta.Artifact{}
		testPolicy.Summarize(o, err)
		if o.Status.LastHandledReconcileAt != "now" {
			t.Errorf("after %v: lastHandledReconcileAt = %q", err, o.Status.LastHandledReconcileAt)
		}
	}
}

func TestSummarizeRedactsMessages(t *testing.T) {
	o := &sourcev1.GitRepository{}
	testPolicy.Summarize(o, Failed(fetchFailed, "GitOperationFailed", errors.New("clone https://bob:hunter2@git.example.com/r?token=t failed: 401")))
	for _, c := range o.Status.Conditions {
		if c.Message != "clone https://git.example.com/r failed: 401" {
			t.Errorf("%s message = %q", c.Type, c.Message)
		}
	}
}

func TestTransition(t *testing.T) {
	ready := func(status metav1.ConditionStatus, reason, msg string) *metav1.Condition {
		return &metav1.Condition{Type: meta.ReadyCondition, Status: status, Reason: reason, Message: msg}
	}
	failure := &Error{Outcome: Failure}
	tests := []struct {
		name          string
		before, after *metav1.Condition
		e             *Error
		wantType      string // "" = no event
		wantReason    string
	}{
		{"first failure", nil, ready("False", "FetchFailed", "refused"), failure, "Warning", "FetchFailed"},
		{"failure after success", ready("True", "Succeeded", "ok"), ready("False", "FetchFailed", "refused"), failure, "Warning", "FetchFailed"},
		{"the same failure again", ready("False", "FetchFailed", "refused"), ready("False", "FetchFailed", "refused"), failure, "", ""},
		{"a failure with a new message", ready("False", "FetchFailed", "refused"), ready("False", "FetchFailed", "timeout"), failure, "Warning", "FetchFailed"},
		{"a stall", ready("Unknown", "Progressing", "x"), ready("False", "InvalidURL", "bad"), &Error{Outcome: Stall}, "Warning", "InvalidURL"},
		{"recovery", ready("False", "FetchFailed", "refused"), ready("True", "Succeeded", "ok"), nil, "Normal", RecoveredReason},
		{"recovery from waiting", ready("False", "DependencyNotReady", "x"), ready("True", "Succeeded", "ok"), nil, "Normal", RecoveredReason},
		{"success after success", ready("True", "Succeeded", "ok"), ready("True", "Succeeded", "ok"), nil, "", ""},
		{"first success", nil, ready("True", "Succeeded", "ok"), nil, "", ""},
		{"waiting", ready("True", "Succeeded", "ok"), ready("False", "DependencyNotReady", "x"), &Error{Outcome: Wait}, "", ""},
		{"progressing", nil, ready("Unknown", "Progressing", "x"), &Error{Outcome: Progress}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := transition(tt.before, tt.after, tt.e, time.Second, time.Minute)
			if !ok {
				if tt.wantType != "" {
					t.Fatalf("no event, want %s %s", tt.wantType, tt.wantReason)
				}
				return
			}
			if n.eventType != tt.wantType || n.reason != tt.wantReason {
				t.Fatalf("event %s %s, want %s %s", n.eventType, n.reason, tt.wantType, tt.wantReason)
			}
			if tt.e != nil && n.message != tt.after.Message {
				t.Errorf("message %q, want Ready's %q", n.message, tt.after.Message)
			}
		})
	}
}
