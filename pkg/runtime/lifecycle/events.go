package lifecycle

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// notice is an event to emit.
type notice struct {
	eventType, reason, message string
}

// RecoveredReason is the reason of the Normal event of a reconcile that succeeds after one
// that did not.
const RecoveredReason = meta.ReconciliationSucceededReason

// transition decides the event that the end of a reconcile deserves, from Ready before and
// after it and its outcome (nil on success):
//
//   - a failure or stall whose Ready differs from the one before (another status, reason or
//     message) is a Warning with Ready's reason and message: one per distinct failure, not one
//     per retry;
//   - a success after a Ready that was False is a Normal event: the object recovered;
//   - waiting, progressing and a success after success say nothing (a new revision is
//     announced by the step that made it).
func transition(before, after *metav1.Condition, e *Error, took, next time.Duration) (notice, bool) {
	switch {
	case e == nil:
		if before == nil || before.Status != metav1.ConditionFalse {
			return notice{}, false
		}
		return notice{corev1.EventTypeNormal, RecoveredReason,
			fmt.Sprintf("Reconciliation finished in %s, next run in %s", took.Round(time.Millisecond), next)}, true
	case e.Outcome == Failure || e.Outcome == Stall:
		if after == nil {
			return notice{}, false
		}
		if before != nil && before.Status == after.Status && before.Reason == after.Reason && before.Message == after.Message {
			return notice{}, false
		}
		return notice{corev1.EventTypeWarning, after.Reason, after.Message}, true
	default:
		return notice{}, false
	}
}
