package requeue

import (
	"testing"
	"time"

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
