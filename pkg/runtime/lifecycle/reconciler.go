package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/metrics"
	"github.com/driftless-dev/driftless/pkg/runtime/patch"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
)

// Scope is what one reconcile's steps share besides their kind's own findings: the object as
// it is being reconciled, the earliest requeue asked for, and the events to announce. A kind's
// scope embeds it:
//
//	type gitScope struct {
//		*lifecycle.Scope[*sourcev1.GitRepository]
//		fetched *fetchResult // found by reconcileSource, packed by reconcileArtifact
//	}
type Scope[O Object] struct {
	// Object is the object being reconciled; its status is written once, at the end.
	Object O

	requeue time.Duration
	notices []notice
}

func (s *Scope[O]) scope() *Scope[O] { return s }

// RequeueAfter asks for the next reconcile no later than d after a success (instead of the
// jittered interval); the lowest of such requests wins.
func (s *Scope[O]) RequeueAfter(d time.Duration) {
	if d > 0 && (s.requeue == 0 || d < s.requeue) {
		s.requeue = d
	}
}

// Announce queues a Normal event (a new revision, a change set), emitted with the kind's
// event metadata when the reconcile ends.
func (s *Scope[O]) Announce(reason, format string, args ...any) {
	s.notices = append(s.notices, notice{eventType: "Normal", reason: reason, message: fmt.Sprintf(format, args...)})
}

// Scoped is a kind's scope type: a pointer to a struct that embeds *Scope[O].
type Scoped[O Object] interface {
	scope() *Scope[O]
}

// Step is one ordered sub-step of a reconcile.
type Step[S any] struct {
	// Run does the step's work. It returns nil or an *Error (Failed, Stalled, Waiting,
	// Progressing); another error is a failure with the kind's FailedReason. A step that does
	// not succeed ends the reconcile.
	Run func(ctx context.Context, s S) error
	// Owns are the negative-polarity conditions the step reports its failures with; they are
	// removed when it succeeds.
	Owns []string
}

// Reconciler is the reconcile skeleton that every kind runs: get the object (not found: forget
// it), add the finalizer, finalize a deleted object, stop at a suspended one, run the kind's
// steps in order, and then, in one place, summarize the outcome into conditions, announce it
// with events, write the status in a single patch, record the duration and choose the requeue.
type Reconciler[O Object, S Scoped[O]] struct {
	Client client.Client
	Events *events.Recorder
	Policy *Policy[O]
	// New returns an empty object of the kind.
	New func() O
	// NewScope wraps a reconcile's base scope in the kind's own.
	NewScope func(*Scope[O]) S
	// Steps run in order until one does not succeed.
	Steps []Step[S]
	// Finalize, when set, cleans up after an object being deleted; the finalizer is removed
	// once it returns nil.
	Finalize func(ctx context.Context, s S) error
	// Release, when set, runs at the end of every reconcile that made a scope (it removes
	// what the steps left in it, a work directory say).
	Release func(s S)
	// Forget, when set, is called with the key of an object that is gone, finalized or
	// suspended: what the controller keeps in memory about it can go.
	Forget func(key types.NamespacedName)
	// JitterPercent spreads the requeue after success around the object's interval.
	JitterPercent uint8
	// RateLimiter is the controller's backoff after failures (requeue.NewRateLimiter); when
	// set, an object's Policy.RetryInterval caps it.
	RateLimiter *requeue.RateLimiter
}

// ControllerOptions are the controller's options for this kind: its workers, and the rate
// limiter the runtime caps per object (so that both use the same one).
func (r *Reconciler[O, S]) ControllerOptions(concurrent int) controller.Options {
	return controller.Options{MaxConcurrentReconciles: concurrent, RateLimiter: r.RateLimiter}
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler[O, S]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := time.Now()
	obj := r.New()
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, redact.Error(err)
	}
	patcher := patch.NewStatusPatcher(obj, r.Client)
	base := &Scope[O]{Object: obj}
	s := r.NewScope(base)
	if r.Release != nil {
		defer r.Release(s)
	}

	deleting := !obj.GetDeletionTimestamp().IsZero()
	invalid := invalidSpec(obj)
	if !deleting && invalid == nil {
		controllerutil.AddFinalizer(obj, meta.Finalizer)
		if obj.IsSuspended() {
			ctrl.LoggerFrom(ctx).V(1).Info("reconciliation is suspended")
			r.forget(req.NamespacedName)
			// Only the finalizer is written: suspension leaves the status as it was.
			return ctrl.Result{}, redact.Error(patcher.Patch(ctx, obj))
		}
	}

	before := conditions.Get(obj, meta.ReadyCondition).DeepCopy()
	var err error
	switch {
	case deleting:
		err = r.finalize(ctx, s, req.NamespacedName)
	case invalid != nil:
		// No step runs, and nothing is written: the API server refuses every update of the
		// object, its status included, until the spec is fixed. The Warning event says what
		// to fix; a change of the spec reconciles it again.
		err = invalid
	default:
		err = r.run(ctx, s)
	}
	r.Policy.Summarize(obj, err)
	e := outcomeOf(err, r.Policy.FailedReason)
	r.announce(ctx, base, before, e, start)
	if invalid != nil && !deleting {
		return ctrl.Result{}, reconcile.TerminalError(redact.Error(invalid))
	}

	if perr := patcher.Patch(ctx, obj); perr != nil && !apierrors.IsNotFound(perr) {
		// The status was not written: retried with backoff, whatever the outcome was.
		return ctrl.Result{}, redact.Error(errors.Join(err, perr))
	}
	metrics.RecordDuration(r.Policy.Kind, obj.GetNamespace(), obj.GetName(), start)
	return r.result(req, obj, base, e, deleting)
}

// run runs the steps in order; each one that succeeds clears the conditions it owns.
func (r *Reconciler[O, S]) run(ctx context.Context, s S) error {
	obj := s.scope().Object
	for _, step := range r.Steps {
		if err := step.Run(ctx, s); err != nil {
			return err
		}
		for _, c := range step.Owns {
			conditions.Delete(obj, c)
		}
	}
	return nil
}

// finalize cleans up after a deleted object and releases its finalizer.
func (r *Reconciler[O, S]) finalize(ctx context.Context, s S, key types.NamespacedName) error {
	obj := s.scope().Object
	if r.Finalize != nil {
		if err := r.Finalize(ctx, s); err != nil {
			return err // the finalizer stays: retried with backoff
		}
	}
	controllerutil.RemoveFinalizer(obj, meta.Finalizer)
	metrics.Forget(r.Policy.Kind, key.Namespace, key.Name)
	r.forget(key)
	return nil
}

func (r *Reconciler[O, S]) forget(key types.NamespacedName) {
	if r.Forget != nil {
		r.Forget(key)
	}
}

// announce emits the events of the reconcile: what the steps announced, then the transition
// of Ready (a new failure, a recovery), and logs a success.
func (r *Reconciler[O, S]) announce(ctx context.Context, s *Scope[O], before *metav1.Condition, e *Error, start time.Time) {
	obj := s.Object
	md := r.Policy.metadata(obj)
	for _, n := range s.notices {
		r.Events.AnnotatedEventf(obj, md, n.eventType, n.reason, "%s", n.message)
	}
	took := time.Since(start)
	if n, ok := transition(before, conditions.Get(obj, meta.ReadyCondition), e, took, obj.GetRequeueAfter()); ok {
		r.Events.AnnotatedEventf(obj, md, n.eventType, n.reason, "%s", n.message)
	}
	if e == nil && obj.GetDeletionTimestamp().IsZero() {
		log := ctrl.LoggerFrom(ctx)
		if rev := md[r.Policy.Group+"/revision"]; rev != "" {
			log = log.WithValues("revision", rev)
		}
		log.Info(fmt.Sprintf("Reconciliation finished in %s, next run in %s", took.Round(time.Millisecond), obj.GetRequeueAfter()))
	}
}

// result chooses what controller-runtime does next: after a success, the earliest requeue a
// step asked for or the jittered interval; after a wait or progress, its delay; after a stall,
// nothing (a terminal error); after a failure, the error, so that the backoff applies, capped
// by the object's retry interval.
func (r *Reconciler[O, S]) result(req ctrl.Request, obj O, s *Scope[O], e *Error, deleting bool) (ctrl.Result, error) {
	if r.RateLimiter != nil && r.Policy.RetryInterval != nil {
		r.RateLimiter.Cap(req, r.Policy.RetryInterval(obj))
	}
	switch {
	case e == nil && deleting:
		return ctrl.Result{}, nil
	case e == nil:
		after := s.requeue
		if after == 0 {
			after = requeue.Jitter(obj.GetRequeueAfter(), r.JitterPercent)
		}
		return ctrl.Result{RequeueAfter: after}, nil
	case e.Outcome == Stall:
		return ctrl.Result{}, reconcile.TerminalError(redact.Error(e))
	case e.Outcome == Wait || e.Outcome == Progress:
		after := e.After
		if after <= 0 {
			after = obj.GetRequeueAfter()
		}
		if s.requeue > 0 && s.requeue < after {
			after = s.requeue
		}
		return ctrl.Result{RequeueAfter: after}, nil
	default:
		return ctrl.Result{}, redact.Error(e)
	}
}

// invalidSpec returns the stall of an object whose spec holds a duration Go cannot represent
// (one created before the CRDs refused them, see meta.Duration), naming each; nil otherwise.
func invalidSpec(obj any) error {
	if bad := invalidDurations(obj); len(bad) > 0 {
		return Stalled("", meta.InvalidDurationReason, fmt.Errorf("%s: not a duration Go can represent (at most 2562047h)", strings.Join(bad, ", ")))
	}
	return nil
}

// invalidDurations lists the durations of obj's spec that did not parse.
func invalidDurations(obj any) []string {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	spec := v.FieldByName("Spec")
	if !spec.IsValid() {
		return nil
	}
	return meta.InvalidDurations(spec.Interface(), "spec")
}
