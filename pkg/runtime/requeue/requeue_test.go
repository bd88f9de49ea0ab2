package requeue

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

func TestJitterStaysWithinBounds(t *testing.T) {
	interval := 10 * time.Minute
	lo, hi := interval-30*time.Second, interval+30*time.Second
	seen := map[time.Duration]bool{}
	for range 1000 {
		got := Jitter(interval, 5)
		if got < lo || got > hi {
			t.Fatalf("Jitter(10m, 5) = %v, outside [%v, %v]", got, lo, hi)
		}
		seen[got] = true
	}
	if len(seen) < 100 {
		t.Fatalf("Jitter is not spreading: %d distinct values in 1000", len(seen))
	}
	if Jitter(interval, 0) != interval {
		t.Fatal("0% jitter must return the interval")
	}
	if got := Jitter(time.Second, 200); got <= 0 || got >= 2*time.Second {
		t.Fatalf("percent must be clamped, got %v", got)
	}
}

func TestHandleRequest(t *testing.T) {
	status := &meta.ReconcileRequestStatus{}
	if HandleRequest(nil, status) {
		t.Fatal("no annotation is no request")
	}
	annotations := map[string]string{meta.ReconcileRequestAnnotation: "2026-11-25T10:00:00Z"}
	if !HandleRequest(annotations, status) || status.LastHandledReconcileAt != "2026-11-25T10:00:00Z" {
		t.Fatalf("request not recorded: %+v", status)
	}
	if HandleRequest(annotations, status) {
		t.Fatal("the same value is not a new request")
	}
}

func TestRateLimiterBacksOffUpToTheObjectsCap(t *testing.T) {
	l := NewRateLimiter(time.Second, time.Hour)
	item := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "a"}}
	other := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "b"}}
	l.Cap(item, 5*time.Second)
	var got []time.Duration
	for range 5 {
		got = append(got, l.When(item))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays = %v, want %v", got, want)
		}
	}
	if l.NumRequeues(item) != 5 {
		t.Fatalf("NumRequeues = %d", l.NumRequeues(item))
	}
	// Another object's backoff is its own and has no cap.
	for range 4 {
		l.When(other)
	}
	if d := l.When(other); d != 16*time.Second {
		t.Fatalf("uncapped fifth delay = %v, want 16s", d)
	}
	// A success starts over, without the cap until one is set again.
	l.Forget(item)
	if d := l.When(item); d != time.Second {
		t.Fatalf("delay after Forget = %v", d)
	}
	l.Cap(item, 0)
	for range 4 {
		l.When(item)
	}
	if d := l.When(item); d != 32*time.Second {
		t.Fatalf("delay without a cap = %v, want 32s", d)
	}
}
