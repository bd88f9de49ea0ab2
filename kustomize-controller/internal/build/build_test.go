package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
spec:
  replicas: 1
  selector:
    matchLabels: {app: frontend}
  template:
    metadata:
      labels: {app: frontend}
    spec:
      containers:
      - name: web
        image: ghcr.io/example/frontend:1.0.0
`

const service = `apiVersion: v1
kind: Service
metadata:
  name: frontend
spec:
  selector: {app: frontend}
  ports: [{port: 80}]
`

func monorepo() map[string]string {
	return map[string]string{
		"apps/frontend/base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
		"apps/frontend/base/deployment.yaml":    deployment,
		"apps/frontend/base/service.yaml":       service,
		"apps/frontend/overlays/production/kustomization.yaml": `resources: [../../base]
namespace: production
patches:
- patch: |
    - op: replace
      path: /spec/replicas
      value: 3
  target: {kind: Deployment, name: frontend}
`,
		"apps/frontend/components/monitoring/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources: [monitor.yaml]
`,
		"apps/frontend/components/monitoring/monitor.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: monitor\n",
		"plain/a.yaml":                 "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"plain/nested/b.yml":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
		"plain/nested/README.md":       "not a manifest",
		"plain/sub/kustomization.yaml": "resources: [c.yaml]\nnamePrefix: sub-\n",
		"plain/sub/c.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
		"broken/kustomization.yaml":    "resources: [bad.yaml]\n",
		"broken/bad.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata: [this is not: valid\n",
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func TestBuildOverlay(t *testing.T) {
	root := writeTree(t, monorepo())
	objs, err := Build(Options{Root: root, Path: "./apps/frontend/overlays/production", Name: "frontend", Namespace: "flux-system"})
	if err != nil {
		t.Fatal(err)
	}
	d := find(objs, "Deployment", "frontend")
	if d == nil || len(objs) != 2 {
		t.Fatalf("objects = %d, deployment %v", len(objs), d)
	}
	if replicas, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); replicas != 3 || d.GetNamespace() != "production" {
		t.Errorf("replicas %d namespace %q", replicas, d.GetNamespace())
	}
	for _, o := range objs {
		if o.GetLabels()[kustomizev1.NameLabel] != "frontend" || o.GetLabels()[kustomizev1.NamespaceLabel] != "flux-system" {
			t.Errorf("%s/%s labels = %v", o.GetKind(), o.GetName(), o.GetLabels())
		}
	}
}

func TestBuildGeneratesKustomizationInMemory(t *testing.T) {
	root := writeTree(t, monorepo())
	objs, err := Build(Options{Root: root, Path: "plain", Name: "plain", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "sub-c"} {
		if find(objs, "ConfigMap", name) == nil {
			t.Errorf("ConfigMap %s missing from %d objects", name, len(objs))
		}
	}
	if len(objs) != 3 {
		t.Errorf("%d objects, want 3", len(objs))
	}
	if _, err := os.Stat(filepath.Join(root, "plain", "kustomization.yaml")); !os.IsNotExist(err) {
		t.Fatal("the generated kustomization.yaml was written to the shared tree")
	}
}

func TestBuildOverrides(t *testing.T) {
	root := writeTree(t, monorepo())
	objs, err := Build(Options{
		Root: root, Path: "apps/frontend/base", Name: "frontend", Namespace: "apps",
		TargetNamespace: "staging", NamePrefix: "stg-", NameSuffix: "-v2",
		Patches: []kustomize.Patch{{
			Patch:  "- op: add\n  path: /metadata/annotations\n  value: {patched: \"yes\"}\n",
			Target: &kustomize.Selector{Kind: "Service"},
		}},
		Images:     []kustomize.Image{{Name: "ghcr.io/example/frontend", NewName: "registry.example.com/frontend", NewTag: "2.0.0"}},
		Components: []string{"../components/monitoring", "../components/missing"}, IgnoreMissingComponents: true,
		CommonMetadata: &kustomizev1.CommonMetadata{Labels: map[string]string{"team": "web"}, Annotations: map[string]string{"owner": "web@example.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := find(objs, "Deployment", "stg-frontend-v2")
	svc := find(objs, "Service", "stg-frontend-v2")
	cm := find(objs, "ConfigMap", "stg-monitor-v2")
	if d == nil || svc == nil || cm == nil {
		t.Fatalf("objects: %v", names(objs))
	}
	if d.GetNamespace() != "staging" || d.GetLabels()["team"] != "web" || d.GetAnnotations()["owner"] != "web@example.com" {
		t.Errorf("deployment metadata: ns %q labels %v annotations %v", d.GetNamespace(), d.GetLabels(), d.GetAnnotations())
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if img := containers[0].(map[string]any)["image"]; img != "registry.example.com/frontend:2.0.0" {
		t.Errorf("image = %v", img)
	}
	if sel, _, _ := unstructured.NestedStringMap(d.Object, "spec", "selector", "matchLabels"); sel["team"] != "" {
		t.Errorf("commonMetadata labels changed the selector: %v", sel)
	}
	if svc.GetAnnotations()["patched"] != "yes" {
		t.Errorf("patch not applied: %v", svc.GetAnnotations())
	}

	// Without IgnoreMissingComponents a missing component is an error.
	_, err = Build(Options{Root: root, Path: "apps/frontend/base", Components: []string{"../components/missing"}})
	if err == nil {
		t.Fatal("a missing component was ignored")
	}
}

// spec.buildMetadata records where each object came from and what changed it, as
// kustomize's own buildMetadata does.
func TestBuildMetadata(t *testing.T) {
	root := writeTree(t, monorepo())
	objs, err := Build(Options{
		Root: root, Path: "./apps/frontend/overlays/production", Name: "frontend", Namespace: "flux-system",
		BuildMetadata: []kustomizev1.BuildMetadataOption{kustomizev1.BuildMetadataOriginAnnotations, kustomizev1.BuildMetadataTransformerAnnotations},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := find(objs, "Deployment", "frontend")
	if d == nil {
		t.Fatalf("objects: %v", names(objs))
	}
	// Paths are relative to spec.path, as if the options were in its kustomization.yaml:
	// none of the controller's directories shows.
	if origin := d.GetAnnotations()["config.kubernetes.io/origin"]; origin != "path: ../../base/deployment.yaml\n" {
		t.Errorf("origin annotation %q", origin)
	}
	tr := d.GetAnnotations()["alpha.config.kubernetes.io/transformations"]
	if !strings.Contains(tr, "configuredIn: kustomization.yaml") || !strings.Contains(tr, "PatchTransformer") || strings.Contains(tr, "../") {
		t.Errorf("transformations annotation %q", tr)
	}
	// Without it, nothing is recorded.
	objs, err = Build(Options{Root: root, Path: "./apps/frontend/overlays/production", Name: "frontend", Namespace: "flux-system"})
	if err != nil {
		t.Fatal(err)
	}
	if a := find(objs, "Deployment", "frontend").GetAnnotations(); len(a) != 0 {
		t.Errorf("annotations without buildMetadata: %v", a)
	}
}

func TestBuildFailsOnInvalidYAML(t *testing.T) {
	root := writeTree(t, monorepo())
	if _, err := Build(Options{Root: root, Path: "broken"}); err == nil || !strings.Contains(err.Error(), "kustomize build failed") {
		t.Fatalf("err = %v", err)
	}
}

func TestBuildCannotLeaveTheRoot(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n"})
	files := monorepo()
	files["escape/kustomization.yaml"] = "resources: [../../../../../../../../" + strings.TrimPrefix(filepath.ToSlash(outside), "/") + "/secret.yaml]\n"
	root := writeTree(t, files)
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(root, "plain", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "linked"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "linked", "kustomization.yaml"), []byte("resources: [dir/secret.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linked", "dir")); err != nil {
		t.Fatal(err)
	}

	tests := []struct{ name, path string }{
		{"spec.path with ..", "../outside"},
		{"spec.path absolute", "/etc"},
		{"resource outside the root", "escape"},
		{"symlinked file", "plain"},
		{"symlinked directory", "linked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Build(Options{Root: root, Path: tt.path})
			if err == nil {
				t.Fatalf("built %v", names(objs))
			}
			if !errors.Is(err, ErrOutsideRoot) && !errors.Is(err, ErrInvalidPath) && !strings.Contains(err.Error(), "outside the artifact root") {
				t.Fatalf("err = %v", err)
			}
			t.Logf("refused: %v", err)
			if strings.Contains(err.Error(), root) {
				t.Errorf("the message reveals the controller's directory: %v", err)
			}
		})
	}
}

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}
