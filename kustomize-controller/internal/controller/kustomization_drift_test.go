package controller

import (
	"testing"
	"time"
)

// The throttle of drift corrections, as a decision over values: one correction at once, a
// pending correction absorbs later drift, and an object that keeps drifting is corrected
// once per gap.
func TestDriftCorrectionSchedule(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	gap := 2 * time.Second
	type step struct {
		id      string
		at      time.Duration // since t0
		started bool          // a reconcile started just before this drift
		wantOK  bool
		wantAt  time.Duration
	}
	tests := []struct {
		name  string
		steps []step
	}{{
		name:  "first drift is corrected at once",
		steps: []step{{id: "a", at: 0, wantOK: true, wantAt: 0}},
	}, {
		name: "drift while a correction is pending is absorbed by it",
		steps: []step{
			{id: "a", at: 0, wantOK: true, wantAt: 0},
			{id: "b", at: 100 * time.Millisecond, wantOK: false},
		},
	}, {
		name: "another object after the reconcile started is corrected at once",
		steps: []step{
			{id: "a", at: 0, wantOK: true, wantAt: 0},
			{id: "b", at: 100 * time.Millisecond, started: true, wantOK: true, wantAt: 100 * time.Millisecond},
		},
	}, {
		name: "the same object within the gap waits for the gap",
		steps: []step{
			{id: "a", at: 0, wantOK: true, wantAt: 0},
			{id: "a", at: 500 * time.Millisecond, started: true, wantOK: true, wantAt: gap},
		},
	}, {
		name: "a writer fighting over a field costs one correction per gap",
		steps: []step{
			{id: "a", at: 0, wantOK: true, wantAt: 0},
			{id: "a", at: 100 * time.Millisecond, started: true, wantOK: true, wantAt: gap},
			{id: "a", at: gap + 100*time.Millisecond, started: true, wantOK: true, wantAt: 2 * gap},
			{id: "a", at: 2*gap + 100*time.Millisecond, started: true, wantOK: true, wantAt: 3 * gap},
		},
	}, {
		name: "the same object after the gap is corrected at once",
		steps: []step{
			{id: "a", at: 0, wantOK: true, wantAt: 0},
			{id: "a", at: gap + time.Millisecond, started: true, wantOK: true, wantAt: gap + time.Millisecond},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c driftCorrection
			for i, s := range tt.steps {
				if s.started {
					c.pending = false // what reconcileStarted does
				}
				at, ok := c.schedule(s.id, t0.Add(s.at), gap)
				if ok != s.wantOK || (ok && !at.Equal(t0.Add(s.wantAt))) {
					t.Fatalf("step %d (%s at %s): scheduled %v at %s, want %v at %s", i, s.id, s.at, ok, at.Sub(t0), s.wantOK, s.wantAt)
				}
			}
		})
	}
}
