package controller

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
)

func TestCrossNamespaceSourceRefIsRefused(t *testing.T) {
	r := &KustomizationReconciler{NoCrossNamespaceRefs: true}
	obj := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: "team-a"},
		Spec:       kustomizev1.KustomizationSpec{SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "fleet", Namespace: "flux-system"}},
	}
	s := &kustomizationScope{Scope: &lifecycle.Scope[*kustomizev1.Kustomization]{Object: obj}}
	err := r.reconcileSource(context.Background(), s)
	var e *lifecycle.Error
	if s.artifact != nil || !errors.As(err, &e) || e.Outcome != lifecycle.Stall {
		t.Fatalf("artifact %v, err %v: want a stall", s.artifact, err)
	}
	kustomizationPolicy.Summarize(obj, err)
	if c := conditions.Get(obj, meta.ReadyCondition); c == nil || c.Reason != meta.AccessDeniedReason {
		t.Errorf("ready = %+v", c)
	}
	if !conditions.IsTrue(obj, meta.StalledCondition) {
		t.Errorf("not stalled: %+v", obj.Status.Conditions)
	}
}
