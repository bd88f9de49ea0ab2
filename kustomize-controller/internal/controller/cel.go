package controller

import (
	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
)

// evalReadyExpr evaluates a dependsOn readyExpr with 'self' (the dependent) and 'dep'.
func evalReadyExpr(expr string, self, dep *kustomizev1.Kustomization) (bool, error) {
	return cel.ReadyExpr(expr, self, dep)
}
