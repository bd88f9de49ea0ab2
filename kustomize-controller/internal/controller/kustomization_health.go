package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/inventory"
	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
)

// healthPollInterval paces the health checks of objects that the tracker cannot watch:
// spec.healthChecks entries that another tool applied.
const healthPollInterval = 2 * time.Second

// healthWait is a Kustomization waiting for its objects to become healthy. It is kept in
// memory only: the worker is released while waiting, and the objects' watch events (or the
// deadline) bring the Kustomization back.
type healthWait struct {
	digest     string
	generation int64
	since      time.Time
}

// healthTarget is an object whose health gates readiness.
type healthTarget struct {
	gvk schema.GroupVersionKind
	key types.NamespacedName
}

func (t healthTarget) String() string {
	if t.key.Namespace == "" {
		return t.gvk.Kind + "/" + t.key.Name
	}
	return t.gvk.Kind + "/" + t.key.Namespace + "/" + t.key.Name
}

// healthTargets are every applied object with spec.wait, else spec.healthChecks.
func healthTargets(obj *kustomizev1.Kustomization) []healthTarget {
	var out []healthTarget
	if obj.Spec.Wait {
		if obj.Status.Inventory == nil {
			return nil
		}
		for _, ref := range obj.Status.Inventory.Entries {
			u, err := parseInventoryRef(ref)
			if err != nil {
				continue
			}
			out = append(out, healthTarget{gvk: u.GroupVersionKind(), key: types.NamespacedName{Namespace: u.GetNamespace(), Name: u.GetName()}})
		}
		return out
	}
	for _, hc := range obj.Spec.HealthChecks {
		gv, err := schema.ParseGroupVersion(hc.APIVersion)
		if err != nil {
			continue
		}
		out = append(out, healthTarget{gvk: gv.WithKind(hc.Kind), key: types.NamespacedName{Namespace: hc.Namespace, Name: hc.Name}})
	}
	return out
}

// reconcileHealth decides readiness from the health of the targets, read from the tracker's
// watch caches. While some are still progressing it releases the worker and is woken by their
// watch events, or by the deadline at spec.timeout. On success, the revision is applied.
// Sets: Healthy, lastAppliedRevision. Fails with: Healthy (HealthCheckFailed), Progressing
// (Healthy Unknown), Stalled (InvalidCELExpression).
func (r *KustomizationReconciler) reconcileHealth(ctx context.Context, s *kustomizationScope) error {
	obj, a := s.Object, s.artifact
	key := client.ObjectKeyFromObject(obj)
	if err := r.checkHealthChecks(obj); err != nil {
		return err
	}
	targets := healthTargets(obj)
	if len(targets) == 0 {
		r.waits.Delete(key)
		conditions.Delete(obj, meta.HealthyCondition)
		markApplied(obj, a)
		return nil
	}
	// Interest first: a change between the evaluation and the registration is not missed.
	r.tracker.Interest(key, true)

	wait := &healthWait{digest: a.Digest, generation: obj.Generation, since: time.Now()}
	if v, ok := r.waits.Load(key); ok {
		if w := v.(*healthWait); w.digest == a.Digest && w.generation == obj.Generation {
			wait = w
		}
	}
	elapsed := time.Since(wait.since)

	var failed, progressing []string
	poll := false
	for _, t := range targets {
		st, msg, watched, err := r.health(ctx, s, t)
		if err != nil {
			r.stopWaiting(key)
			return lifecycle.Stalled("", meta.InvalidCELExpressionReason, err)
		}
		line := fmt.Sprintf("%s status: '%s'", t, st)
		if msg != "" {
			line += ": " + msg
		}
		switch st {
		case status.CurrentStatus:
		case status.FailedStatus:
			failed = append(failed, line)
		default:
			progressing = append(progressing, line)
			poll = poll || !watched
		}
	}

	switch {
	case len(failed) > 0:
		return r.unhealthy(key, fmt.Sprintf("health check failed after %s: failed: [%s]", elapsed.Round(time.Millisecond), strings.Join(failed, ", ")))
	case len(progressing) == 0:
		r.stopWaiting(key)
		if !conditions.IsTrue(obj, meta.HealthyCondition) || s.changed {
			// A new result: say how long it took. Otherwise it is the same result, left as
			// it was, so that a reconcile where nothing changed writes nothing.
			conditions.MarkTrue(obj, meta.HealthyCondition, meta.SucceededReason, "Health check passed in %s", elapsed.Round(time.Millisecond))
		}
		markApplied(obj, a)
		return nil
	case elapsed >= obj.GetTimeout():
		return r.unhealthy(key, fmt.Sprintf("health check failed after %s: timeout waiting for: [%s]", elapsed.Round(time.Millisecond), strings.Join(progressing, ", ")))
	}
	r.waits.Store(key, wait)
	after := obj.GetTimeout() - elapsed
	if poll && after > healthPollInterval {
		after = healthPollInterval
	}
	return lifecycle.Progressing(meta.HealthyCondition, after, "Running health checks for revision %s with a timeout of %s", a.Revision, obj.GetTimeout())
}

// stopWaiting ends a Kustomization's wait for health.
func (r *KustomizationReconciler) stopWaiting(key types.NamespacedName) {
	r.tracker.Interest(key, false)
	r.waits.Delete(key)
}

func (r *KustomizationReconciler) unhealthy(key types.NamespacedName, msg string) error {
	r.stopWaiting(key)
	return lifecycle.Failed(meta.HealthyCondition, meta.HealthCheckFailedReason, errors.New(msg))
}

// checkHealthChecks refuses, with --no-cross-namespace-refs, a spec.healthChecks entry in
// another namespace, as a cross-namespace source is refused.
// Fails with: Stalled (AccessDenied).
func (r *KustomizationReconciler) checkHealthChecks(obj *kustomizev1.Kustomization) error {
	if !r.NoCrossNamespaceRefs || obj.Spec.Wait {
		return nil
	}
	for _, hc := range obj.Spec.HealthChecks {
		if hc.Namespace != "" && hc.Namespace != obj.Namespace {
			return lifecycle.Stalled("", meta.AccessDeniedReason, fmt.Errorf("cannot check the health of %s/%s/%s: cross-namespace references are not allowed (--no-cross-namespace-refs)", hc.Kind, hc.Namespace, hc.Name))
		}
	}
	return nil
}

// health computes the kstatus of one target. watched reports whether a change of the object
// will wake the Kustomization (it is in the tracker and carries the owner labels). An object
// the Kustomization did not apply is read as its account: one the account may not read fails.
func (r *KustomizationReconciler) health(ctx context.Context, s *kustomizationScope, t healthTarget) (st status.Status, msg string, watched bool, err error) {
	obj := s.Object
	live, known := r.tracker.Get(t.gvk, t.key)
	if live == nil && known && !applied(obj, t) {
		// The tracker only sees the objects this controller applied: another tool's object
		// is read from the API server.
		known = false
	}
	var u *unstructured.Unstructured
	switch o := live.(type) {
	case *unstructured.Unstructured:
		u = o
	case nil:
	default: // kept as metadata only
		if gk := t.gvk.GroupKind(); gk.Group == "" && (gk.Kind == "ConfigMap" || gk.Kind == "Secret") {
			return status.CurrentStatus, "", true, nil
		}
		known = false
	}
	if !known {
		u = &unstructured.Unstructured{}
		u.SetGroupVersionKind(t.gvk)
		if err := s.reader.Get(ctx, t.key, u); err != nil {
			switch {
			case apierrors.IsNotFound(err):
				return status.NotFoundStatus, "", false, nil
			case apierrors.IsForbidden(err):
				// Waiting would not help: the account may not read it.
				return status.FailedStatus, r.explainRefusal(ctx, obj, err).Error(), false, nil
			}
			return status.UnknownStatus, err.Error(), false, nil
		}
	}
	if u == nil {
		// Not in the tracker yet: either just created and not seen, or gone.
		return status.NotFoundStatus, "", true, nil
	}
	watched = owned(u, obj) && known
	if exprs := healthExprs(obj, t.gvk); exprs != nil {
		st, err := evalHealthExprs(exprs, u)
		return st, "", watched, err
	}
	res, err := status.Compute(u)
	if err != nil {
		return status.UnknownStatus, err.Error(), watched, nil
	}
	return res.Status, res.Message, watched, nil
}

func owned(u *unstructured.Unstructured, obj *kustomizev1.Kustomization) bool {
	l := u.GetLabels()
	return l[kustomizev1.NameLabel] == obj.Name && l[kustomizev1.NamespaceLabel] == obj.Namespace
}

// healthExprs returns the spec.healthCheckExprs entry for a kind, matched on apiVersion (or
// its group alone) and kind: an entry for the kind wins over one for every kind (no kind).
func healthExprs(obj *kustomizev1.Kustomization, gvk schema.GroupVersionKind) *kustomize.CustomHealthCheck {
	return cel.HealthCheckFor(obj.Spec.HealthCheckExprs, gvk)
}

// evalHealthExprs evaluates the check over the object (pkg/runtime/cel.Health).
func evalHealthExprs(e *kustomize.CustomHealthCheck, u *unstructured.Unstructured) (status.Status, error) {
	h, err := cel.Health(e, u.Object, u.GroupVersionKind())
	if err != nil {
		return status.UnknownStatus, err
	}
	return status.Status(h), nil
}

// applied reports whether the target is one of the objects of the Kustomization's last apply.
func applied(obj *kustomizev1.Kustomization, t healthTarget) bool {
	if obj.Status.Inventory == nil {
		return false
	}
	id := inventory.ID(object.ObjMetadata{Namespace: t.key.Namespace, Name: t.key.Name, GroupKind: t.gvk.GroupKind()})
	for _, e := range obj.Status.Inventory.Entries {
		if e.ID == id {
			return true
		}
	}
	return false
}
