package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/driftless-dev/driftless/pkg/testenv"
)

const expectErrorAnnotation = "test.driftless.dev/expect-error"

// readCorpus decodes every YAML document of the files matching pattern.
func readCorpus(t *testing.T, pattern string) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files match %s: %v", pattern, err)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLReader(bufioReader(data))
		for {
			doc, err := dec.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(testenv.Context(t), ns); err != nil {
		t.Fatal(err)
	}
}

// TestCorpusRoundTrips applies the documented examples and at least two objects of every kind,
// then checks that the API server kept every field, that the Go types decode and re-encode it
// without loss, and that the schema defaults were applied.
func TestCorpusRoundTrips(t *testing.T) {
	createNamespace(t, "corpus")
	objs := readCorpus(t, "testdata/crds/valid/*.yaml")

	perKind := map[string]int{}
	for _, in := range objs {
		perKind[in.GetKind()]++
		t.Run(in.GetKind()+"/"+in.GetName(), func(t *testing.T) {
			ctx := testenv.Context(t)
			obj := in.DeepCopy()
			obj.SetNamespace("corpus")
			if err := env.Client.Create(ctx, obj); err != nil {
				t.Fatalf("create refused: %v", err)
			}
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(in.GroupVersionKind())
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
				t.Fatal(err)
			}

			// The API server kept every field we sent.
			if path, ok := containsAll(in.Object["spec"], got.Object["spec"], "spec", false); !ok {
				t.Errorf("API server lost or changed %s", path)
			}
			// The Go types hold every field too.
			typed, err := env.Scheme.New(in.GroupVersionKind())
			if err != nil {
				t.Fatalf("the scheme does not know %s: %v", in.GroupVersionKind(), err)
			}
			if err := strictDecode(got.Object, typed); err != nil {
				t.Fatalf("decoding into %T: %v", typed, err)
			}
			back, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
			if err != nil {
				t.Fatal(err)
			}
			// Go writes durations in canonical form ("1m" becomes "1m0s") and omits false and
			// empty values, as Flux's types do: compare meaning here, not spelling.
			if path, ok := containsAll(got.Object["spec"], back["spec"], "spec", true); !ok {
				t.Errorf("the Go type lost or changed %s", path)
			}
		})
	}
	for _, kind := range []string{"GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket", "ExternalArtifact",
		"Kustomization", "HelmRelease", "Receiver", "Alert", "Provider"} {
		if perKind[kind] < 2 {
			t.Errorf("the corpus has %d objects of kind %s, want at least 2", perKind[kind], kind)
		}
	}
}

// TestSchemaDefaults checks the defaults Flux users and the flux CLI rely on.
func TestSchemaDefaults(t *testing.T) {
	createNamespace(t, "defaults")
	ctx := testenv.Context(t)
	docs := `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: d, namespace: defaults}
spec: {interval: 1m, url: "https://example.com/r"}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: d, namespace: defaults}
spec: {interval: 1m, url: "oci://example.com/r"}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: d, namespace: defaults}
spec: {interval: 1m, chart: c, sourceRef: {kind: HelmRepository, name: r}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: Bucket
metadata: {name: d, namespace: defaults}
spec: {interval: 1m, endpoint: e, bucketName: b}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: d, namespace: defaults}
spec: {interval: 1m, prune: true, sourceRef: {kind: GitRepository, name: r}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: d, namespace: defaults}
spec: {interval: 1m, chart: {spec: {chart: c, sourceRef: {kind: HelmRepository, name: r}}}, uninstall: {}}
---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: d, namespace: defaults}
spec: {type: generic, secretRef: {name: t}, resources: [{kind: GitRepository, name: r}]}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: d, namespace: defaults}
spec: {providerRef: {name: p}, eventSources: [{kind: GitRepository, name: "*"}]}
`
	want := map[string]map[string]any{
		"GitRepository": {"spec.timeout": "60s", "status.observedGeneration": int64(-1)},
		"OCIRepository": {"spec.timeout": "60s", "spec.provider": "generic", "status.observedGeneration": int64(-1)},
		"HelmChart":     {"spec.version": "*", "spec.reconcileStrategy": "ChartVersion", "status.observedGeneration": int64(-1)},
		"Bucket":        {"spec.provider": "generic", "spec.timeout": "60s", "status.observedGeneration": int64(-1)},
		"Kustomization": {"spec.force": false, "status.observedGeneration": int64(-1)},
		"HelmRelease":   {"spec.chart.spec.version": "*", "spec.chart.spec.reconcileStrategy": "ChartVersion", "spec.uninstall.deletionPropagation": "background", "status.observedGeneration": int64(-1)},
		"Receiver":      {"spec.interval": "10m", "status.observedGeneration": int64(-1)},
		"Alert":         {"spec.eventSeverity": "info"},
	}
	for _, doc := range strings.Split(docs, "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("%s: %v", obj.GetKind(), err)
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(obj.GroupVersionKind())
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
			t.Fatal(err)
		}
		for path, value := range want[obj.GetKind()] {
			v, found, err := unstructured.NestedFieldNoCopy(got.Object, strings.Split(path, ".")...)
			if err != nil || !found || !reflect.DeepEqual(v, value) {
				t.Errorf("%s %s = %#v (found %v), want %#v", obj.GetKind(), path, v, found, value)
			}
		}
	}
}

// TestInvalidObjectsAreRefused sends objects with a bad duration, a missing required field,
// an unknown enum value, a URL with a wrong scheme and broken CEL rules, and checks that the
// API server refuses each with a message that names the problem.
func TestInvalidObjectsAreRefused(t *testing.T) {
	createNamespace(t, "invalid")
	for _, in := range readCorpus(t, "testdata/crds/invalid/*.yaml") {
		t.Run(in.GetKind()+"/"+in.GetName(), func(t *testing.T) {
			want := in.GetAnnotations()[expectErrorAnnotation]
			if want == "" {
				t.Fatalf("corpus object without %s annotation", expectErrorAnnotation)
			}
			obj := in.DeepCopy()
			obj.SetNamespace("invalid")
			err := env.Client.Create(testenv.Context(t), obj)
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not contain %q", err, want)
			}
		})
	}
}

// TestCRDsMatchFluxInstall checks what the flux CLI reads from the CRDs: one served version per
// kind, Flux's labels and annotations, categories, short names and printer columns.
func TestCRDsMatchFluxInstall(t *testing.T) {
	ctx := testenv.Context(t)
	want := map[string]struct {
		version, short, category string
		columns                  []string
	}{
		"gitrepositories.source.toolkit.fluxcd.io":   {"v1", "gitrepo", "fluxcd-sources", []string{"URL", "Age", "Ready", "Status"}},
		"ocirepositories.source.toolkit.fluxcd.io":   {"v1", "ocirepo", "fluxcd-sources", []string{"URL", "Ready", "Status", "Age"}},
		"helmrepositories.source.toolkit.fluxcd.io":  {"v1", "helmrepo", "fluxcd-sources", []string{"URL", "Age", "Ready", "Status"}},
		"helmcharts.source.toolkit.fluxcd.io":        {"v1", "hc", "fluxcd-sources", []string{"Chart", "Version", "Source Kind", "Source Name", "Age", "Ready", "Status"}},
		"buckets.source.toolkit.fluxcd.io":           {"v1", "", "fluxcd-sources", []string{"Endpoint", "Age", "Ready", "Status"}},
		"externalartifacts.source.toolkit.fluxcd.io": {"v1", "ea", "fluxcd-sources", []string{"Age", "Ready", "Status", "Source"}},
		"kustomizations.kustomize.toolkit.fluxcd.io": {"v1", "ks", "fluxcd-appliers", []string{"Age", "Ready", "Status"}},
		"helmreleases.helm.toolkit.fluxcd.io":        {"v2", "hr", "fluxcd-appliers", []string{"Age", "Ready", "Status"}},
		"receivers.notification.toolkit.fluxcd.io":   {"v1", "", "fluxcd-notifications", []string{"Age", "Ready", "Status"}},
		"alerts.notification.toolkit.fluxcd.io":      {"v1beta3", "", "fluxcd-notifications", []string{"Age"}},
		"providers.notification.toolkit.fluxcd.io":   {"v1beta3", "", "fluxcd-notifications", []string{"Age"}},
	}
	list := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := env.Client.List(ctx, list); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, crd := range list.Items {
		w, ok := want[crd.Name]
		if !ok {
			continue
		}
		seen++
		t.Run(crd.Name, func(t *testing.T) {
			if crd.Labels["app.kubernetes.io/part-of"] != "flux" || crd.Labels["app.kubernetes.io/component"] == "" {
				t.Errorf("labels = %v", crd.Labels)
			}
			if crd.Annotations["kustomize.toolkit.fluxcd.io/substitute"] != "disabled" {
				t.Errorf("annotations = %v", crd.Annotations)
			}
			if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != w.version || !crd.Spec.Versions[0].Served || !crd.Spec.Versions[0].Storage {
				t.Errorf("versions = %+v, want only %s", crd.Spec.Versions, w.version)
			}
			if len(crd.Status.StoredVersions) == 0 {
				t.Errorf("status.storedVersions is empty")
			}
			if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
				t.Errorf("scope = %s", crd.Spec.Scope)
			}
			if w.short != "" && !contains(crd.Spec.Names.ShortNames, w.short) {
				t.Errorf("shortNames = %v, want %s", crd.Spec.Names.ShortNames, w.short)
			}
			if !contains(crd.Spec.Names.Categories, "all") || !contains(crd.Spec.Names.Categories, "fluxcd") || !contains(crd.Spec.Names.Categories, w.category) {
				t.Errorf("categories = %v", crd.Spec.Names.Categories)
			}
			var cols []string
			for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
				cols = append(cols, c.Name)
			}
			if !reflect.DeepEqual(cols, w.columns) {
				t.Errorf("printer columns = %v, want %v", cols, w.columns)
			}
		})
	}
	if seen != len(want) {
		t.Fatalf("found %d of the %d Driftless CRDs", seen, len(want))
	}
}

// TestExpressionFieldsAreBounded checks that every CEL expression field refuses an expression
// longer than 4096 characters: a deliberate bound (Flux has none) on what the controllers
// compile and evaluate for an object.
func TestExpressionFieldsAreBounded(t *testing.T) {
	createNamespace(t, "bounded")
	long := strings.Repeat("x", 4097)
	for _, tc := range []struct{ doc, field string }{
		{`{"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "a", "namespace": "bounded"},
			"spec": {"interval": "1m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "r"},
				"healthCheckExprs": [{"apiVersion": "example.com/v1", "current": "EXPR"}]}}`, "spec.healthCheckExprs[0].current"},
		{`{"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "b", "namespace": "bounded"},
			"spec": {"interval": "1m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "r"},
				"dependsOn": [{"name": "infra", "readyExpr": "EXPR"}]}}`, "spec.dependsOn[0].readyExpr"},
		{`{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "c", "namespace": "bounded"},
			"spec": {"interval": "1m", "chartRef": {"kind": "OCIRepository", "name": "p"},
				"healthCheckExprs": [{"apiVersion": "example.com/v1", "current": "true", "failed": "EXPR"}]}}`, "spec.healthCheckExprs[0].failed"},
		{`{"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver", "metadata": {"name": "d", "namespace": "bounded"},
			"spec": {"type": "generic", "secretRef": {"name": "t"}, "resourceFilter": "EXPR", "resources": [{"kind": "GitRepository", "name": "r"}]}}`, "spec.resourceFilter"},
		{`{"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver", "metadata": {"name": "e", "namespace": "bounded"},
			"spec": {"type": "generic", "secretRef": {"name": "t"}, "resources": [{"kind": "GitRepository", "name": "*", "filter": "EXPR"}]}}`, "spec.resources[0].filter"},
		{`{"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver", "metadata": {"name": "f", "namespace": "bounded"},
			"spec": {"type": "generic-oidc", "resources": [{"kind": "GitRepository", "name": "r"}],
				"oidcProviders": [{"issuerURL": "https://issuer", "validations": [{"expression": "EXPR", "message": "m"}]}]}}`, "spec.oidcProviders[0].validations[0].expression"},
		{`{"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider", "metadata": {"name": "g", "namespace": "bounded"},
			"spec": {"type": "github", "commitStatusExpr": "EXPR"}}`, "spec.commitStatusExpr"},
	} {
		obj := &unstructured.Unstructured{}
		if err := json.Unmarshal([]byte(strings.Replace(tc.doc, "EXPR", long, 1)), &obj.Object); err != nil {
			t.Fatal(err)
		}
		err := env.Client.Create(testenv.Context(t), obj)
		if want := tc.field + ": Too long: may not be more than 4096"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: create returned %v, want an error containing %q", tc.field, err, want)
		}
	}
}

// TestStatusSchema checks the rules of status fields, which only a status write can reach: an
// artifact without a digest is refused (consumers verify what they download against it), and
// a HelmRelease's storage namespace must be a namespace name's length.
func TestStatusSchema(t *testing.T) {
	createNamespace(t, "status-schema")
	ctx := testenv.Context(t)
	for _, tc := range []struct {
		doc, status, wantErr string
	}{{
		doc: `{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {"name": "no-digest", "namespace": "status-schema"},
			"spec": {"interval": "1m", "url": "https://example.com/r"}}`,
		status:  `{"status": {"artifact": {"path": "gitrepository/status-schema/no-digest/a.tar.gz", "url": "http://source-controller/a.tar.gz", "revision": "main@sha1:0001", "lastUpdateTime": "2026-12-01T10:00:00Z"}}}`,
		wantErr: "status.artifact.digest: Required value",
	}, {
		doc: `{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {"name": "no-included-digest", "namespace": "status-schema"},
			"spec": {"interval": "1m", "url": "https://example.com/r"}}`,
		status:  `{"status": {"includedArtifacts": [{"path": "p", "url": "http://u", "revision": "main@sha1:0001", "lastUpdateTime": "2026-12-01T10:00:00Z"}]}}`,
		wantErr: "status.includedArtifacts[0].digest: Required value",
	}, {
		doc: `{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "long-storage", "namespace": "status-schema"},
			"spec": {"interval": "1m", "chartRef": {"kind": "OCIRepository", "name": "podinfo"}}}`,
		status:  `{"status": {"storageNamespace": "` + strings.Repeat("n", 64) + `"}}`,
		wantErr: "status.storageNamespace: Too long: may not be more than 63",
	}} {
		obj := &unstructured.Unstructured{}
		if err := json.Unmarshal([]byte(tc.doc), &obj.Object); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("%s: %v", obj.GetName(), err)
		}
		err := env.Client.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(tc.status)))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: status patch returned %v, want an error containing %q", obj.GetName(), err, tc.wantErr)
		}
	}
}

// containsAll reports whether every leaf of want is in got with an equal value, and otherwise
// the path of the first difference. With semantic set, a zero value or an empty list equals an
// absent one and durations compare by length.
func containsAll(want, got any, path string, semantic bool) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path, false
		}
		for k, v := range w {
			if p, ok := containsAll(v, g[k], path+"."+k, semantic); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		if semantic && len(w) == 0 && got == nil {
			return "", true // an empty list is omitted, as Flux's types omit it
		}
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := containsAll(w[i], g[i], fmt.Sprintf("%s[%d]", path, i), semantic); !ok {
				return p, false
			}
		}
		return "", true
	default:
		if semantic && equalMeaning(want, got) {
			return "", true
		}
		if !reflect.DeepEqual(normalizeNumber(want), normalizeNumber(got)) {
			return fmt.Sprintf("%s (%#v != %#v)", path, want, got), false
		}
		return "", true
	}
}

// equalMeaning treats an absent value as equal to a zero one, and two durations as equal when
// they have the same length.
func equalMeaning(want, got any) bool {
	if got == nil {
		return want == false || want == "" || normalizeNumber(want) == float64(0)
	}
	ws, ok1 := want.(string)
	gs, ok2 := got.(string)
	if ok1 && ok2 {
		wd, err1 := time.ParseDuration(ws)
		gd, err2 := time.ParseDuration(gs)
		return err1 == nil && err2 == nil && wd == gd
	}
	return false
}

func normalizeNumber(v any) any {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return v
}

// strictDecode decodes an unstructured object into a typed one, failing on unknown fields.
func strictDecode(obj map[string]any, into runtime.Object) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
