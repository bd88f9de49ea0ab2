package tracker

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/testenv"
)

// The tracker's handlers wake owners without ever blocking, however many objects
// change at once and whether or not the controller has started: each owner is queued
// once.
func TestWakeupsNeverBlock(t *testing.T) {
	var w Wakeups
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	const owners = 5000
	wake := func() {
		for i := range 4 * owners {
			w.Add(types.NamespacedName{Namespace: "default", Name: fmt.Sprint(i % owners)})
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wake() // before the controller starts
		if err := w.Source().Start(testenv.Context(t), q); err != nil {
			t.Error(err)
		}
		wake() // and after, with nobody taking from the queue
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waking owners blocked")
	}
	if q.Len() != owners {
		t.Fatalf("%d owners queued, want %d", q.Len(), owners)
	}
}
