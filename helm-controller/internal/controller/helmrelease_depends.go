package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
)

// dependencyIndexKey indexes HelmReleases by '<namespace>/<name>' of each dependency.
const dependencyIndexKey = ".spec.dependsOn"

func indexDependencies(o client.Object) []string {
	hr := o.(*v2.HelmRelease)
	keys := make([]string, 0, len(hr.Spec.DependsOn))
	for _, d := range hr.Spec.DependsOn {
		keys = append(keys, dependencyKey(hr, d).String())
	}
	return keys
}

func dependencyKey(hr *v2.HelmRelease, d meta.DependencyReference) types.NamespacedName {
	ns := d.Namespace
	if ns == "" {
		ns = hr.Namespace
	}
	return types.NamespacedName{Namespace: ns, Name: d.Name}
}

// dependents maps a HelmRelease to those that depend on it.
func (r *HelmReleaseReconciler) dependents(ctx context.Context, o client.Object) []reconcile.Request {
	list := &v2.HelmReleaseList{}
	if err := r.List(ctx, list, client.MatchingFields{dependencyIndexKey: client.ObjectKeyFromObject(o).String()}); err != nil {
		return nil
	}
	return requestsFor(list)
}

// requestsFor is a reconcile request for each HelmRelease of the list.
func requestsFor(list *v2.HelmReleaseList) []reconcile.Request {
	reqs := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
	}
	return reqs
}

// becameReady passes the updates that can unblock a dependent: Ready became True, or a new
// generation or revision was released.
var becameReady = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okOld := e.ObjectOld.(*v2.HelmRelease)
		n, okNew := e.ObjectNew.(*v2.HelmRelease)
		if !okOld || !okNew || !conditions.IsReady(n) {
			return false
		}
		return !conditions.IsReady(o) || o.Status.LastReleaseRevision != n.Status.LastReleaseRevision ||
			o.Status.ObservedGeneration != n.Status.ObservedGeneration
	},
}

// reconcileDependencies checks that every HelmRelease of spec.dependsOn is ready at its latest
// generation (or passes its readyExpr), read with the tenant's identity. A dependent is
// reconciled as soon as a dependency becomes ready, and at --requeue-dependency in any case.
// Fails with: Waiting (DependencyNotReady), Stalled (AccessDenied, InvalidCELExpression).
func (r *HelmReleaseReconciler) reconcileDependencies(ctx context.Context, s *releaseScope) error {
	obj := s.Object
	if len(obj.Spec.DependsOn) == 0 {
		return nil
	}
	reader, err := r.tenantReader(s)
	if err != nil {
		return err
	}
	for _, d := range obj.Spec.DependsOn {
		key := dependencyKey(obj, d)
		if r.NoCrossNamespaceRefs && key.Namespace != obj.Namespace {
			return lifecycle.Stalled("", meta.AccessDeniedReason, fmt.Errorf("cross-namespace dependency '%s' is not allowed (--no-cross-namespace-refs)", key))
		}
		dep := &v2.HelmRelease{}
		if err := reader.Get(ctx, key, dep); err != nil {
			if apierrors.IsForbidden(err) {
				return lifecycle.Failed("", meta.AccessDeniedReason, fmt.Errorf("reading dependency '%s': %w", key, err))
			}
			if !apierrors.IsNotFound(err) {
				return err
			}
			return lifecycle.Waiting(meta.DependencyNotReadyReason, r.DependencyRetry, "dependency '%s' not found", key)
		}
		if d.ReadyExpr != "" {
			ready, err := cel.ReadyExpr(d.ReadyExpr, obj, dep)
			if err != nil {
				return lifecycle.Stalled("", meta.InvalidCELExpressionReason, fmt.Errorf("dependency '%s': %w", key, err))
			}
			if !ready {
				return lifecycle.Waiting(meta.DependencyNotReadyReason, r.DependencyRetry, "dependency '%s' is not ready according to readyExpr", key)
			}
			continue
		}
		if dep.Generation != dep.Status.ObservedGeneration || !conditions.IsReady(dep) {
			return lifecycle.Waiting(meta.DependencyNotReadyReason, r.DependencyRetry, "dependency '%s' is not ready", key)
		}
	}
	return nil
}
