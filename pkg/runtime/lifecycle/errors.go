package lifecycle

import (
	"errors"
	"fmt"
	"time"
)

// Outcome is how a reconcile that did not succeed ends.
type Outcome int

const (
	// Failure is an error that retrying may fix (a remote that did not answer, an apply the
	// API server refused): Ready=False, Reconciling=True with ProgressingWithRetry, a Warning
	// event when the failure is new, and a retry with backoff.
	Failure Outcome = iota + 1
	// Stall is an error that only a change of the spec can fix (an invalid reference, a
	// refused cross-namespace ref): Ready=False, Stalled=True, a Warning event, no retry.
	Stall
	// Wait is a precondition outside the object that is not met yet (its source has no
	// artifact, a dependency is not ready): Ready=False, no event, a retry after a delay and
	// no backoff.
	Wait
	// Progress is work under way that the reconcile does not block on (objects becoming
	// healthy): Ready=Unknown, Reconciling=True, a reconcile again after a delay.
	Progress
)

// Error is a step's typed result when it does not succeed. It carries what the status shows:
// the reason, the message (its error's), and, when the outcome concerns one of the kind's own
// conditions (FetchFailed, Healthy), that condition. The runtime turns it into conditions,
// events and a requeue in one place; a step never marks Ready itself.
type Error struct {
	Outcome Outcome
	// Condition is one of the kind's conditions that the outcome sets (True for a negative
	// polarity condition that reports the failure, False for a positive one, Unknown while
	// in progress), or empty.
	Condition string
	// Reason is the CamelCase reason of Ready (and of Condition, Stalled).
	Reason string
	// After is when a waiting or progressing object is reconciled again.
	After time.Duration
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Failed reports a failure that is retried with backoff. condition may be empty.
func Failed(condition, reason string, err error) error {
	return &Error{Outcome: Failure, Condition: condition, Reason: reason, Err: err}
}

// Stalled reports a failure that retrying cannot fix until the spec changes. condition may be
// empty.
func Stalled(condition, reason string, err error) error {
	return &Error{Outcome: Stall, Condition: condition, Reason: reason, Err: err}
}

// Waiting reports a precondition that is not met yet; the object is reconciled again after
// the given delay (or sooner, when a watch says the precondition changed).
func Waiting(reason string, after time.Duration, format string, args ...any) error {
	return &Error{Outcome: Wait, Reason: reason, After: after, Err: fmt.Errorf(format, args...)}
}

// Progressing reports work under way; the object is reconciled again after the given delay.
// condition, when set, is marked Unknown with the message.
func Progressing(condition string, after time.Duration, format string, args ...any) error {
	return &Error{Outcome: Progress, Condition: condition, After: after, Err: fmt.Errorf(format, args...)}
}

// outcomeOf returns the typed form of a reconcile's error: an error without one is a failure
// with the given reason. It returns nil for nil.
func outcomeOf(err error, failedReason string) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Outcome: Failure, Reason: failedReason, Err: err}
}
