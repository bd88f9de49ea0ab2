package conditions

import (
	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// Summary says how to compute Ready from an object's other conditions.
type Summary struct {
	// Failures are abnormal-polarity condition types, in priority order: the first that is True
	// makes Ready False with its reason and message.
	Failures []string
	// ProgressingMessage is the Ready message while Reconciling is True.
	ProgressingMessage string
}

// SummarizeReady sets Ready from the other conditions, in this order: Stalled=True or a failure
// condition True makes Ready False; Reconciling=True makes Ready Unknown; otherwise Ready is left
// as the reconciler set it. It is called once, just before the status is written.
func SummarizeReady(obj Object, s Summary) {
	if c := Get(obj, meta.StalledCondition); c != nil && c.Status == "True" {
		MarkFalse(obj, meta.ReadyCondition, c.Reason, "%s", c.Message)
		return
	}
	for _, t := range s.Failures {
		if c := Get(obj, t); c != nil && c.Status == "True" {
			MarkFalse(obj, meta.ReadyCondition, c.Reason, "%s", c.Message)
			return
		}
	}
	if c := Get(obj, meta.ReconcilingCondition); c != nil && c.Status == "True" {
		msg := s.ProgressingMessage
		if msg == "" {
			msg = "Reconciliation in progress"
		}
		MarkUnknown(obj, meta.ReadyCondition, meta.ProgressingReason, "%s", msg)
	}
}
