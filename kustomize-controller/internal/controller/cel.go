package controller

import (
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"k8s.io/apimachinery/pkg/runtime"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
)

// celPrograms caches compiled CEL programs by environment and expression.
var celPrograms sync.Map

// objectVars are the variables of a health check expression: the object's top-level fields.
var objectVars = []string{"apiVersion", "kind", "metadata", "spec", "status", "data"}

func compileBool(vars []string, expr string) (cel.Program, error) {
	key := fmt.Sprint(vars) + "\x00" + expr
	if p, ok := celPrograms.Load(key); ok {
		return p.(cel.Program), nil
	}
	opts := make([]cel.EnvOption, 0, len(vars))
	for _, v := range vars {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("invalid CEL expression '%s': %w", expr, iss.Err())
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("invalid CEL expression '%s': it must evaluate to a bool, not %s", expr, ast.OutputType())
	}
	p, err := env.Program(ast)
	if err != nil {
		return nil, fmt.Errorf("invalid CEL expression '%s': %w", expr, err)
	}
	celPrograms.Store(key, p)
	return p, nil
}

// evalBool runs a compiled expression. A field that does not exist yet is not an error the
// user must fix: the object is still progressing, so the expression counts as false.
func evalBool(p cel.Program, vars map[string]any) bool {
	out, _, err := p.Eval(vars)
	if err != nil {
		return false
	}
	b, ok := out.Value().(bool)
	return ok && b
}

// evalReadyExpr evaluates a dependsOn readyExpr with 'self' (the dependent) and 'dep'.
func evalReadyExpr(expr string, self, dep *kustomizev1.Kustomization) (bool, error) {
	p, err := compileBool([]string{"self", "dep"}, expr)
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
	return evalBool(p, map[string]any{"self": s, "dep": d}), nil
}
