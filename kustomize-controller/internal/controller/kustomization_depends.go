package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
)

// dependencyIndexKey indexes Kustomizations by '<namespace>/<name>' of each dependency.
const dependencyIndexKey = ".spec.dependsOn"

func indexDependencies(o client.Object) []string {
	ks := o.(*kustomizev1.Kustomization)
	keys := make([]string, 0, len(ks.Spec.DependsOn))
	for _, d := range ks.Spec.DependsOn {
		keys = append(keys, dependencyKey(ks, d).String())
	}
	return keys
}

func dependencyKey(obj *kustomizev1.Kustomization, d meta.DependencyReference) types.NamespacedName {
	ns := d.Namespace
	if ns == "" {
		ns = obj.Namespace
	}
	return types.NamespacedName{Namespace: ns, Name: d.Name}
}

// dependents maps a Kustomization to those that depend on it.
func (r *KustomizationReconciler) dependents(ctx context.Context, o client.Object) []reconcile.Request {
	return r.indexed(ctx, dependencyIndexKey, client.ObjectKeyFromObject(o).String())
}

// indexed returns a request for every Kustomization whose index holds key.
func (r *KustomizationReconciler) indexed(ctx context.Context, index, key string) []reconcile.Request {
	list := &kustomizev1.KustomizationList{}
	if err := r.List(ctx, list, client.MatchingFields{index: key}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
	}
	return reqs
}

// readinessChanged passes the updates that can unblock a dependent: Ready became True, or a
// new revision was applied.
var readinessChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okOld := e.ObjectOld.(*kustomizev1.Kustomization)
		n, okNew := e.ObjectNew.(*kustomizev1.Kustomization)
		if !okOld || !okNew || !conditions.IsReady(n) {
			return false
		}
		return !conditions.IsReady(o) || o.Status.LastAppliedRevision != n.Status.LastAppliedRevision ||
			o.Status.ObservedGeneration != n.Status.ObservedGeneration
	},
}

// reconcileDependencies checks that every Kustomization in spec.dependsOn is ready at its
// latest generation, and, when it uses the same source, has applied the revision about to be
// applied here. A dependent is reconciled as soon as a dependency becomes ready, and at
// --requeue-dependency in any case.
// Fails with: Waiting (DependencyNotReady), Stalled (AccessDenied, InvalidCELExpression).
func (r *KustomizationReconciler) reconcileDependencies(ctx context.Context, s *kustomizationScope) error {
	obj, a := s.Object, s.artifact
	// Without an account, dependencies are read from the cache that the readiness watch
	// keeps; with one, as that account.
	var deps client.Reader = r.Client
	if r.serviceAccount(obj).Name != "" {
		deps = s.reader
	}
	for _, d := range obj.Spec.DependsOn {
		key := dependencyKey(obj, d)
		if r.NoCrossNamespaceRefs && key.Namespace != obj.Namespace {
			return lifecycle.Stalled("", meta.AccessDeniedReason, fmt.Errorf("cross-namespace dependency '%s' is not allowed (--no-cross-namespace-refs)", key))
		}
		dep := &kustomizev1.Kustomization{}
		if err := deps.Get(ctx, key, dep); err != nil {
			if apierrors.IsForbidden(err) {
				return lifecycle.Failed("", meta.AccessDeniedReason, r.explainRefusal(ctx, obj, fmt.Errorf("reading dependency '%s': %w", key, err)))
			}
			if !apierrors.IsNotFound(err) {
				return err
			}
			return r.notReady(ctx, "dependency '%s' not found", key)
		}
		if d.ReadyExpr != "" {
			ready, err := evalReadyExpr(d.ReadyExpr, obj, dep)
			if err != nil {
				return lifecycle.Stalled("", meta.InvalidCELExpressionReason, fmt.Errorf("dependency '%s': %w", key, err))
			}
			if !ready {
				return r.notReady(ctx, "dependency '%s' is not ready according to readyExpr", key)
			}
			continue
		}
		if len(dep.Status.Conditions) == 0 || dep.Generation != dep.Status.ObservedGeneration || !conditions.IsReady(dep) {
			return r.notReady(ctx, "dependency '%s' is not ready", key)
		}
		if sameSource(obj, dep) && dep.Status.LastAppliedRevision != a.Revision {
			return r.notReady(ctx, "dependency '%s' has not applied revision %s yet", key, a.Revision)
		}
	}
	return nil
}

func (r *KustomizationReconciler) notReady(ctx context.Context, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	ctrl.LoggerFrom(ctx).Info(msg+", retrying when it is ready", "retryIn", r.RequeueDependency.String())
	return lifecycle.Waiting(meta.DependencyNotReadyReason, r.RequeueDependency, "%s", msg)
}

func sameSource(a, b *kustomizev1.Kustomization) bool {
	return indexSource(a)[0] == indexSource(b)[0]
}
