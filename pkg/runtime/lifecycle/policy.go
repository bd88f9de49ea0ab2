package lifecycle

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
)

// Object is a reconciled kind: conditions, suspend, an interval, observedGeneration and the
// reconcile-request handshake.
type Object interface {
	client.Object
	meta.ObjectWithConditions
	IsSuspended() bool
	GetRequeueAfter() time.Duration
	GetObservedGeneration() int64
	SetObservedGeneration(int64)
	GetReconcileRequestStatus() *meta.ReconcileRequestStatus
}

// Policy declares, as data, how one kind's conditions make its status: which conditions the
// kind owns, which of them report a failure, and what Ready says on success.
type Policy[O Object] struct {
	// Kind names the kind in metrics.
	Kind string
	// Group is the API group, the prefix of the event metadata keys ('<group>/revision').
	Group string
	// Conditions are the kind's own condition types besides Ready, Reconciling and Stalled.
	// A condition of any other type is removed when the status is written.
	Conditions []string
	// Negative are those of Conditions with abnormal polarity: present only while True, and
	// True means something is wrong (FetchFailed). Ready is never True while one of them is;
	// the first True one in this order gives its reason and message.
	Negative []string
	// FailedReason is Ready's reason for an error that carries none (an API error).
	FailedReason string
	// Ready returns Ready's reason and message after a reconcile that succeeded.
	Ready func(obj O) (reason, message string)
	// Revision returns what the object's events carry as '<group>/revision'; none when nil
	// or empty.
	Revision func(obj O) string
	// Metadata, when set, returns more of what the object's events carry, by key without the
	// group prefix ('app-version' is sent as '<group>/app-version').
	Metadata func(obj O) map[string]string
	// RetryInterval, when set and positive for an object, caps the backoff after its failed
	// reconciles (spec.retryInterval).
	RetryInterval func(obj O) time.Duration
}

// Summarize computes the status a reconcile ends with, in one place, from its outcome (nil on
// success):
//
//   - success: Ready=True with the kind's message; Reconciling and Stalled removed.
//   - Failure: Ready=False with the reason and message, Reconciling=True with
//     ProgressingWithRetry, Stalled removed.
//   - Stall: Ready=False and Stalled=True with the reason and message, Reconciling removed.
//   - Wait: Ready=False with the reason and message, Reconciling and Stalled removed.
//   - Progress: Ready=Unknown (Progressing), Reconciling=True with the message, Stalled
//     removed.
//
// A typed error's Condition is set too: True when it has negative polarity, else False
// (Unknown while in progress). Ready is then checked against the negative conditions (none
// may be True while Ready is), conditions the kind does not own are removed,
// observedGeneration is recorded when Ready=True or Stalled=True, and the requestedAt value
// is copied to lastHandledReconcileAt.
func (p *Policy[O]) Summarize(obj O, err error) {
	e := outcomeOf(err, p.FailedReason)
	switch {
	case e == nil:
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.Delete(obj, meta.StalledCondition)
		reason, msg := meta.SucceededReason, ""
		if p.Ready != nil {
			reason, msg = p.Ready(obj)
		}
		conditions.MarkTrue(obj, meta.ReadyCondition, reason, "%s", msg)
	case e.Outcome == Stall:
		p.markCondition(obj, e, metav1.ConditionTrue)
		conditions.MarkStalled(obj, e.Reason, "%s", e.Error())
		conditions.MarkFalse(obj, meta.ReadyCondition, e.Reason, "%s", e.Error())
	case e.Outcome == Wait:
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.Delete(obj, meta.StalledCondition)
		conditions.MarkFalse(obj, meta.ReadyCondition, e.Reason, "%s", e.Error())
	case e.Outcome == Progress:
		p.markCondition(obj, e, metav1.ConditionUnknown)
		conditions.MarkReconciling(obj, meta.ProgressingReason, "%s", e.Error())
		conditions.MarkUnknown(obj, meta.ReadyCondition, meta.ProgressingReason, "Reconciliation in progress")
	default: // Failure
		p.markCondition(obj, e, metav1.ConditionTrue)
		conditions.MarkReconciling(obj, meta.ProgressingWithRetryReason, "%s", e.Error())
		conditions.MarkFalse(obj, meta.ReadyCondition, e.Reason, "%s", e.Error())
	}
	if conditions.IsReady(obj) {
		for _, t := range p.Negative {
			if c := conditions.Get(obj, t); c != nil && c.Status == metav1.ConditionTrue {
				conditions.MarkFalse(obj, meta.ReadyCondition, c.Reason, "%s", c.Message)
				break
			}
		}
	}
	p.dropForeign(obj)
	if conditions.IsReady(obj) || conditions.IsTrue(obj, meta.StalledCondition) {
		obj.SetObservedGeneration(obj.GetGeneration())
	}
	requeue.HandleRequest(obj.GetAnnotations(), obj.GetReconcileRequestStatus())
}

// markCondition sets the error's condition, if any. failed is the status a negative-polarity
// condition takes; a positive one takes the opposite (Unknown stays Unknown).
func (p *Policy[O]) markCondition(obj O, e *Error, failed metav1.ConditionStatus) {
	if e.Condition == "" {
		return
	}
	status := failed
	if status == metav1.ConditionTrue && !slices.Contains(p.Negative, e.Condition) {
		status = metav1.ConditionFalse
	}
	reason := e.Reason
	if status == metav1.ConditionUnknown {
		reason = meta.ProgressingReason
	}
	conditions.Set(obj, metav1.Condition{Type: e.Condition, Status: status, Reason: reason, Message: e.Error()})
}

// dropForeign removes the conditions the kind does not own.
func (p *Policy[O]) dropForeign(obj O) {
	conds := obj.GetConditions()
	kept := conds[:0]
	for _, c := range conds {
		switch c.Type {
		case meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition:
		default:
			if !slices.Contains(p.Conditions, c.Type) {
				continue
			}
		}
		kept = append(kept, c)
	}
	obj.SetConditions(kept)
}

// metadata is what every event of the object carries: its revision and the kind's Metadata.
func (p *Policy[O]) metadata(obj O) map[string]string {
	md := map[string]string{}
	if p.Revision != nil {
		if rev := p.Revision(obj); rev != "" {
			md[p.Group+"/revision"] = rev
		}
	}
	if p.Metadata != nil {
		for k, v := range p.Metadata(obj) {
			md[p.Group+"/"+k] = v
		}
	}
	if len(md) == 0 {
		return nil
	}
	return md
}
