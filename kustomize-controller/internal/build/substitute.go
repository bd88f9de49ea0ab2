package build

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/envsubst"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
)

// Substitution is a Kustomization's spec.postBuild with its variables resolved.
type Substitution struct {
	// Variables by name: from substituteFrom in order, then substitute, each overriding the
	// ones before.
	Variables map[string]string
	// Always substitutes even when there are no variables (substituteStrategy: Always):
	// '$${x}' is unescaped and, when Strict, an undefined '${x}' is an error. Otherwise a
	// Kustomization without variables is left as built.
	Always bool
	// Strict makes a variable that is not defined and has no default an error, instead of
	// an empty string (the StrictPostBuildSubstitutions feature gate).
	Strict bool
}

// variableName is what a variable may be called, as in a shell.
var variableName = regexp.MustCompile(`^[_[:alpha:]][_[:alpha:][:digit:]]*$`)

// validate rejects variables whose names no '${...}' expression can refer to.
func (s *Substitution) validate() error {
	var bad []string
	for name := range s.Variables {
		if !variableName.MatchString(name) {
			bad = append(bad, fmt.Sprintf("%q", name))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("postBuild: invalid variable name %s: a name must match %s", strings.Join(bad, ", "), variableName)
}

// enabled reports whether objects are substituted at all.
func (s *Substitution) enabled() bool {
	return s != nil && (len(s.Variables) > 0 || s.Always)
}

// apply substitutes the variables in every string of u, unless u opts out with the label or
// annotation kustomize.toolkit.fluxcd.io/substitute: disabled. The object goes through YAML,
// so that '${replicas}' in 'replicas: ${replicas}' becomes a number. Errors name the object
// and the expression's problem, never a variable's value.
func (s *Substitution) apply(u *unstructured.Unstructured) error {
	if u.GetLabels()[kustomizev1.SubstituteAnnotation] == kustomizev1.DisabledValue ||
		u.GetAnnotations()[kustomizev1.SubstituteAnnotation] == kustomizev1.DisabledValue {
		return nil
	}
	data, err := yaml.Marshal(u.Object)
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), "$") {
		return nil // nothing to substitute, nothing to unescape
	}
	out, err := envsubst.Eval(string(data), func(name string) (string, bool) {
		v, ok := s.Variables[name]
		return v, ok || !s.Strict
	})
	if err != nil {
		return fmt.Errorf("postBuild substitution in %s: %w", objectName(u), err)
	}
	if out == string(data) {
		return nil
	}
	// Through JSON, so that numbers are int64 or float64 as unstructured requires.
	j, err := yaml.YAMLToJSON([]byte(out))
	if err != nil {
		return fmt.Errorf("postBuild substitution in %s: the result is not valid YAML: %w", objectName(u), err)
	}
	substituted := &unstructured.Unstructured{}
	if err := substituted.UnmarshalJSON(j); err != nil {
		return fmt.Errorf("postBuild substitution in %s: %w", objectName(u), err)
	}
	u.Object = substituted.Object
	return nil
}

// objectName names an object in an error: Kind/namespace/name.
func objectName(u *unstructured.Unstructured) string {
	return resourceName(u.GetKind(), u.GetNamespace(), u.GetName())
}

func resourceName(kind, namespace, name string) string {
	if namespace != "" {
		return kind + "/" + namespace + "/" + name
	}
	return kind + "/" + name
}
