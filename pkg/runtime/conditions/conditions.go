package conditions

import (
	"fmt"
	"unicode/utf8"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
)

// Object is a Kubernetes object with status conditions.
type Object interface {
	meta.ObjectWithConditions
	GetGeneration() int64
}

// Get returns the condition of the given type, or nil.
func Get(obj meta.ObjectWithConditions, t string) *metav1.Condition {
	return apimeta.FindStatusCondition(obj.GetConditions(), t)
}

// Has reports whether a condition of the given type exists.
func Has(obj meta.ObjectWithConditions, t string) bool { return Get(obj, t) != nil }

// IsTrue reports whether the condition exists with status True.
func IsTrue(obj meta.ObjectWithConditions, t string) bool {
	return apimeta.IsStatusConditionTrue(obj.GetConditions(), t)
}

// IsFalse reports whether the condition exists with status False.
func IsFalse(obj meta.ObjectWithConditions, t string) bool {
	return apimeta.IsStatusConditionFalse(obj.GetConditions(), t)
}

// IsUnknown reports whether the condition is absent or has status Unknown.
func IsUnknown(obj meta.ObjectWithConditions, t string) bool {
	c := Get(obj, t)
	return c == nil || c.Status == metav1.ConditionUnknown
}

// IsReady reports whether Ready is True.
func IsReady(obj meta.ObjectWithConditions) bool { return IsTrue(obj, meta.ReadyCondition) }

// GetReason returns the reason of the condition, or "".
func GetReason(obj meta.ObjectWithConditions, t string) string {
	if c := Get(obj, t); c != nil {
		return c.Reason
	}
	return ""
}

// GetMessage returns the message of the condition, or "".
func GetMessage(obj meta.ObjectWithConditions, t string) string {
	if c := Get(obj, t); c != nil {
		return c.Message
	}
	return ""
}

// MaxMessageLength is the longest condition message the CRDs accept (metav1.Condition's
// maxLength): a longer one makes the API server refuse the whole status.
const MaxMessageLength = 32768

// truncatedSuffix ends a message cut at MaxMessageLength.
const truncatedSuffix = " ... (truncated)"

// Set adds or replaces a condition. The message is redacted and cut to MaxMessageLength,
// ObservedGeneration is the object's generation, and LastTransitionTime changes only when the
// status does.
func Set(obj Object, c metav1.Condition) {
	c.Message = truncate(redact.String(c.Message))
	c.ObservedGeneration = obj.GetGeneration()
	conds := obj.GetConditions()
	apimeta.SetStatusCondition(&conds, c)
	obj.SetConditions(conds)
}

// MarkTrue sets the condition to True.
func MarkTrue(obj Object, t, reason, format string, args ...any) {
	Set(obj, newCondition(t, metav1.ConditionTrue, reason, format, args...))
}

// MarkFalse sets the condition to False.
func MarkFalse(obj Object, t, reason, format string, args ...any) {
	Set(obj, newCondition(t, metav1.ConditionFalse, reason, format, args...))
}

// MarkUnknown sets the condition to Unknown.
func MarkUnknown(obj Object, t, reason, format string, args ...any) {
	Set(obj, newCondition(t, metav1.ConditionUnknown, reason, format, args...))
}

// Delete removes the condition of the given type.
func Delete(obj meta.ObjectWithConditions, t string) {
	conds := obj.GetConditions()
	apimeta.RemoveStatusCondition(&conds, t)
	obj.SetConditions(conds)
}

// MarkReconciling records that work is in progress: Reconciling=True and, since the outcome is
// not known yet, Stalled is removed.
func MarkReconciling(obj Object, reason, format string, args ...any) {
	MarkTrue(obj, meta.ReconcilingCondition, reason, format, args...)
	Delete(obj, meta.StalledCondition)
}

// MarkStalled records a failure that retrying cannot fix (bad configuration): Stalled=True,
// and Reconciling is removed since no more work will happen until the spec changes.
func MarkStalled(obj Object, reason, format string, args ...any) {
	MarkTrue(obj, meta.StalledCondition, reason, format, args...)
	Delete(obj, meta.ReconcilingCondition)
}

func newCondition(t string, status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg}
}

// truncate cuts a message to MaxMessageLength bytes, on a character boundary, and says so.
func truncate(msg string) string {
	if len(msg) <= MaxMessageLength {
		return msg
	}
	cut := MaxMessageLength - len(truncatedSuffix)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + truncatedSuffix
}
