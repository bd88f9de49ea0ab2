package build

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const templated = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: ${namespace:=apps}
  labels: {cluster: "${cluster_name}", tier: "${tier^^}"}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: web
        image: ghcr.io/example/app:${tag}
        command: [sh, -c, "echo $HOME $${LITERAL}"]
        env:
        - {name: TOKEN, value: "${token}"}
`

const optedOut = `apiVersion: v1
kind: ConfigMap
metadata:
  name: script
  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}
data:
  run.sh: echo ${tag}
`

func buildSubstituted(t *testing.T, s *Substitution) ([]*unstructured.Unstructured, error) {
	t.Helper()
	root := writeTree(t, map[string]string{"app/deployment.yaml": templated, "app/script.yaml": optedOut})
	return Build(Options{Root: root, Path: "app", Name: "app", Namespace: "flux-system", PostBuild: s})
}

func TestPostBuildSubstitution(t *testing.T) {
	vars := map[string]string{"cluster_name": "prod-eu", "tier": "web", "replicas": "3", "tag": "1.2.3", "token": "s3cr3t"}
	objs, err := buildSubstituted(t, &Substitution{Variables: vars, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	d := find(objs, "Deployment", "app")
	if d.GetNamespace() != "apps" {
		t.Errorf("namespace %q: the default of ${namespace:=apps} was not used", d.GetNamespace())
	}
	if l := d.GetLabels(); l["cluster"] != "prod-eu" || l["tier"] != "WEB" || l["kustomize.toolkit.fluxcd.io/name"] != "app" {
		t.Errorf("labels = %v", l)
	}
	// 'replicas: ${replicas}' becomes a number, as the API server requires.
	if r, ok, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "replicas"); r != int64(3) || !ok {
		t.Errorf("replicas = %#v (%T)", r, r)
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	if c["image"] != "ghcr.io/example/app:1.2.3" {
		t.Errorf("image = %v", c["image"])
	}
	// '$HOME' is not a '${...}' expression, and '$${x}' is the escape for a literal '${x}'.
	if cmd := c["command"].([]any); cmd[2] != "echo $HOME ${LITERAL}" {
		t.Errorf("command = %q", cmd[2])
	}
	if got := find(objs, "ConfigMap", "script").Object["data"]; !reflect.DeepEqual(got, map[string]any{"run.sh": "echo ${tag}"}) {
		t.Errorf("an object with substitute: disabled was substituted: %v", got)
	}
}

func TestPostBuildUndefinedVariable(t *testing.T) {
	vars := map[string]string{"cluster_name": "prod-eu", "replicas": "3", "tag": "1", "token": "s3cr3t"}
	_, err := buildSubstituted(t, &Substitution{Variables: vars, Strict: true})
	if err == nil || !strings.Contains(err.Error(), "Deployment/${namespace:=apps}/app") || !strings.Contains(err.Error(), `"tier"`) {
		t.Fatalf("strict substitution of an undefined variable: %v", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "prod-eu") {
		t.Fatalf("the error shows a variable's value: %v", err)
	}

	// Without the StrictPostBuildSubstitutions gate, an undefined variable is empty.
	objs, err := buildSubstituted(t, &Substitution{Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	if l := find(objs, "Deployment", "app").GetLabels(); l["tier"] != "" {
		t.Errorf("tier = %q", l["tier"])
	}
}

func TestPostBuildStrategy(t *testing.T) {
	// WithVariables (the default): no variables, no substitution at all.
	for _, s := range []*Substitution{nil, {Strict: true}} {
		objs, err := buildSubstituted(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if r, _, _ := unstructured.NestedString(find(objs, "Deployment", "app").Object, "spec", "replicas"); r != "${replicas}" {
			t.Errorf("%+v: replicas = %q, want the expression left as built", s, r)
		}
	}
	// Always: the expressions are evaluated without variables, so strict mode finds the
	// undefined ones.
	if _, err := buildSubstituted(t, &Substitution{Always: true, Strict: true}); err == nil || !strings.Contains(err.Error(), "variable not set") {
		t.Fatalf("Always with no variables: %v", err)
	}
}

func TestPostBuildInvalidVariableName(t *testing.T) {
	_, err := buildSubstituted(t, &Substitution{Variables: map[string]string{"ok_1": "x", "1st": "y", "with-dash": "z"}})
	if err == nil || !strings.Contains(err.Error(), `"1st", "with-dash"`) {
		t.Fatalf("invalid names: %v", err)
	}
}
