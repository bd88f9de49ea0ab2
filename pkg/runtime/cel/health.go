package cel

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
)

// The health a check computes, with kstatus's names.
const (
	HealthCurrent    = "Current"
	HealthInProgress = "InProgress"
	HealthFailed     = "Failed"
)

// objectVars are the variables of a health check expression: the object's top-level fields.
var objectVars = []string{"apiVersion", "kind", "metadata", "spec", "status", "data"}

// HealthCheckFor returns the check of checks for gvk (healthCheckExprs): the one naming its
// kind, else one for every kind of its apiVersion (or group); nil when none applies.
func HealthCheckFor(checks []kustomize.CustomHealthCheck, gvk schema.GroupVersionKind) *kustomize.CustomHealthCheck {
	var anyKind *kustomize.CustomHealthCheck
	for i := range checks {
		e := &checks[i]
		if e.APIVersion != gvk.GroupVersion().String() && e.APIVersion != gvk.Group {
			continue
		}
		switch e.Kind {
		case gvk.Kind:
			return e
		case "":
			if anyKind == nil {
				anyKind = e
			}
		}
	}
	return anyKind
}

// Health evaluates the check's inProgress, failed, then current over the object (its
// top-level fields); none true means in progress. The expressions never see a Secret's data:
// a health check is no way to read it.
func Health(e *kustomize.CustomHealthCheck, object map[string]any, gvk schema.GroupVersionKind) (string, error) {
	secret := gvk.GroupKind() == schema.GroupKind{Kind: "Secret"}
	vars := make(map[string]any, len(objectVars))
	for _, v := range objectVars {
		if secret && (v == "data" || v == "stringData") {
			continue
		}
		if val, ok := object[v]; ok {
			vars[v] = val
		}
	}
	for _, c := range []struct{ expr, health string }{{e.InProgress, HealthInProgress}, {e.Failed, HealthFailed}, {e.Current, HealthCurrent}} {
		if c.expr == "" {
			continue
		}
		name := strings.TrimSuffix(e.APIVersion+"/"+e.Kind, "/")
		p, err := Compile(objectVars, c.expr)
		if err != nil {
			return HealthInProgress, fmt.Errorf("healthCheckExprs for %s: %w", name, err)
		}
		ok, err := p.Eval(vars)
		if err != nil {
			return HealthInProgress, fmt.Errorf("healthCheckExprs for %s: '%s': %w", name, c.expr, err)
		}
		if ok {
			return c.health, nil
		}
	}
	return HealthInProgress, nil
}
