package controller

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
)

// objectVars are the variables of a health check expression: the object's top-level fields.
var objectVars = []string{"apiVersion", "kind", "metadata", "spec", "status", "data"}

// evalReadyExpr evaluates a dependsOn readyExpr with 'self' (the dependent) and 'dep'.
func evalReadyExpr(expr string, self, dep *kustomizev1.Kustomization) (bool, error) {
	p, err := cel.Compile([]string{"self", "dep"}, expr)
	if err != nil {
		return false, err
	}
	s, err := runtime.DefaultUnstructuredConverter.ToUnstructured(self)
	if err != nil {
		return false, err
	}
	d, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dep)
	if err != nil {
		return false, err
	}
	ready, err := p.Eval(map[string]any{"self": s, "dep": d})
	if err != nil {
		return false, fmt.Errorf("readyExpr '%s': %w", expr, err)
	}
	return ready, nil
}
