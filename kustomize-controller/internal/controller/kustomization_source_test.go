package controller

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
)

func TestCrossNamespaceSourceRefIsRefused(t *testing.T) {
	r := &KustomizationReconciler{NoCrossNamespaceRefs: true}
	obj := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: "team-a"},
		Spec:       kustomizev1.KustomizationSpec{SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "fleet", Namespace: "flux-system"}},
	}
	a, err := r.reconcileSource(context.Background(), obj)
	if a != nil || !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("artifact %v, err %v: want a terminal error", a, err)
	}
	if c := conditions.Get(obj, meta.ReadyCondition); c == nil || c.Reason != meta.AccessDeniedReason {
		t.Errorf("ready = %+v", c)
	}
	if !conditions.IsTrue(obj, meta.StalledCondition) {
		t.Errorf("not stalled: %+v", obj.Status.Conditions)
	}
}
