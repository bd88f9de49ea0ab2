package conditions

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

type fakeObj struct {
	gen   int64
	conds []metav1.Condition
}

func (o *fakeObj) GetConditions() []metav1.Condition  { return o.conds }
func (o *fakeObj) SetConditions(c []metav1.Condition) { o.conds = c }
func (o *fakeObj) GetGeneration() int64               { return o.gen }

func TestSetKeepsTransitionTimeWhenStatusUnchanged(t *testing.T) {
	o := &fakeObj{gen: 3}
	MarkFalse(o, meta.ReadyCondition, "A", "first")
	first := Get(o, meta.ReadyCondition).LastTransitionTime
	// Make sure a new transition time would differ.
	Get(o, meta.ReadyCondition).LastTransitionTime = metav1.NewTime(first.Add(-time.Hour))
	before := Get(o, meta.ReadyCondition).LastTransitionTime
	MarkFalse(o, meta.ReadyCondition, "B", "second")
	c := Get(o, meta.ReadyCondition)
	if !c.LastTransitionTime.Equal(&before) {
		t.Fatalf("transition time changed without a status change")
	}
	if c.Reason != "B" || c.Message != "second" || c.ObservedGeneration != 3 {
		t.Fatalf("unexpected condition %+v", c)
	}
	MarkTrue(o, meta.ReadyCondition, "C", "third")
	if Get(o, meta.ReadyCondition).LastTransitionTime.Equal(&before) {
		t.Fatalf("transition time not updated on a status change")
	}
}

func TestMessagesAreRedacted(t *testing.T) {
	o := &fakeObj{}
	MarkFalse(o, meta.ReadyCondition, "AuthenticationFailed", "clone %s: 401", "https://bob:hunter2@git.example.com/r")
	if got := GetMessage(o, meta.ReadyCondition); got != "clone https://git.example.com/r: 401" {
		t.Fatalf("message not redacted: %q", got)
	}
}

func TestReconcilingAndStalledExcludeEachOther(t *testing.T) {
	o := &fakeObj{}
	MarkReconciling(o, meta.ProgressingReason, "working")
	MarkStalled(o, meta.InvalidURLReason, "bad url")
	if Has(o, meta.ReconcilingCondition) {
		t.Fatal("Reconciling must be removed when Stalled")
	}
	MarkReconciling(o, meta.ProgressingReason, "again")
	if Has(o, meta.StalledCondition) {
		t.Fatal("Stalled must be removed when Reconciling")
	}
}

func TestLongMessagesAreCutToWhatTheAPIServerAccepts(t *testing.T) {
	o := &fakeObj{}
	// A health timeout naming a thousand objects, with multi-byte characters at the cut.
	long := strings.Repeat("Deployment/apps/ünïcode status: 'InProgress', ", 1000)
	MarkFalse(o, meta.ReadyCondition, meta.HealthCheckFailedReason, "%s", long)
	msg := GetMessage(o, meta.ReadyCondition)
	if len(msg) > MaxMessageLength || !strings.HasSuffix(msg, " ... (truncated)") || !utf8.ValidString(msg) {
		t.Fatalf("message of %d bytes, valid UTF-8 %v, ends %q", len(msg), utf8.ValidString(msg), msg[len(msg)-30:])
	}
	if !strings.HasPrefix(long, strings.TrimSuffix(msg, " ... (truncated)")) {
		t.Error("the kept part is not the start of the message")
	}
	short := "health check failed after 2s"
	MarkFalse(o, meta.ReadyCondition, meta.HealthCheckFailedReason, "%s", short)
	if GetMessage(o, meta.ReadyCondition) != short {
		t.Error("a short message was changed")
	}
}
