package build

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/internal/decrypt"
	"github.com/driftless-dev/driftless/kustomize-controller/sopstest"
	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
)

// shardFixture is a directory of manifest files of the kinds the per-object overrides treat
// specially: cluster-scoped objects, RoleBinding subjects, webhook and CRD service references,
// images, Lists, local configs and objects with a namespace of their own.
func shardFixture() map[string]string {
	return map[string]string{
		"app/namespace.yaml":   "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
		"app/clusterrole.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\nrules: []\n",
		"app/rolebinding.yaml": `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: read
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
- {kind: ServiceAccount, name: web, namespace: default}
- {kind: ServiceAccount, name: ops, namespace: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: read-all
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
- {kind: ServiceAccount, name: web, namespace: default}
`,
		"app/deployment.yaml": deployment,
		"app/service.yaml":    service,
		"app/list.yaml": `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: listed-a}, data: {k: a}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: listed-b}, data: {k: b}}
`,
		"app/multi.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: one, namespace: elsewhere}
data: {k: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: local
  annotations: {config.kubernetes.io/local-config: "true"}
---
apiVersion: v1
kind: Secret
metadata: {name: token}
stringData: {token: not-a-secret}
`,
		"app/webhook.yaml": `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: check}
webhooks:
- name: check.example.com
  clientConfig: {service: {name: webhook, namespace: default, path: /check}}
  admissionReviewVersions: [v1]
  sideEffects: None
`,
		"app/separators.yaml": `# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: sep-a}
---   
# only a comment
---
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: sep-b
data:
  text: |
    --- not a marker: indented
---
`,
		"app/unsplittable.yaml": `--- # a marker with a comment
apiVersion: v1
kind: ConfigMap
metadata: {name: unsplit-a}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unsplit-b}
`,
		"app/crd.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
  conversion:
    strategy: Webhook
    webhook:
      clientConfig: {service: {name: convert, namespace: default}}
      conversionReviewVersions: [v1]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: gadget}
`,
	}
}

// sharding sets the shards' size for the rest of the test: each document its own shard
// (one), or no shards at all (false).
func sharding(t *testing.T, one bool) {
	bytes, min, docs := shardBytes, shardMin, shardDocs
	t.Cleanup(func() { shardBytes, shardMin, shardDocs = bytes, min, docs })
	shardBytes, shardMin = 1, 0
	if !one {
		shardMin = 1 << 30
	}
}

// withShardBytes builds with each document its own shard (at 1), or whole.
func withShardBytes(t *testing.T, n int64, o Options) ([]*unstructured.Unstructured, error) {
	t.Helper()
	sharding(t, n == 1)
	return Build(o)
}

// A build in shards gives kustomize's result for the whole build: the same objects, with the
// same overrides applied, in the same order.
func TestShardedBuildIsTheWholeBuild(t *testing.T) {
	listed := shardFixture()
	var files []string
	for p := range listed {
		files = append(files, strings.TrimPrefix(p, "app/"))
	}
	sort.Strings(files)
	listed["app/kustomization.yaml"] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + strings.Join(files, "\n- ") + "\n"
	trees := map[string]string{"listed": writeTree(t, listed), "generated": writeTree(t, shardFixture())}
	variants := map[string]func(*Options){
		"no overrides":     func(*Options) {},
		"target namespace": func(o *Options) { o.TargetNamespace = "team" },
		"common metadata": func(o *Options) {
			o.CommonMetadata = &kustomizev1.CommonMetadata{Labels: map[string]string{"tier": "web"}, Annotations: map[string]string{"owner": "platform"}}
		},
		"images": func(o *Options) {
			o.Images = []kustomize.Image{{Name: "ghcr.io/example/frontend", NewTag: "2.0.0"}}
		},
		"all": func(o *Options) {
			o.TargetNamespace = "team"
			o.CommonMetadata = &kustomizev1.CommonMetadata{Labels: map[string]string{"tier": "web"}}
			o.Images = []kustomize.Image{{Name: "ghcr.io/example/frontend", Digest: "sha256:" + strings.Repeat("a", 64)}}
		},
	}
	for tree, root := range trees {
		for name, set := range variants {
			t.Run(tree+"/"+name, func(t *testing.T) {
				o := Options{Root: root, Path: "./app", Name: "app", Namespace: "flux-system"}
				set(&o)
				fsys, err := newConfinedFS(root)
				if err != nil {
					t.Fatal(err)
				}
				if err := generateKustomization(fsys, fsys.root+"/app"); err != nil {
					t.Fatal(err)
				}
				if groups, err := shards(fsys, fsys.root+"/app", o); err != nil || len(groups) != 0 {
					t.Fatalf("%d shards of a small build, %v", len(groups), err)
				}
				sharding(t, true)
				groups, err := shards(fsys, fsys.root+"/app", o)
				// A shard per document, the unsplittable file's two in one.
				if err != nil || len(groups) != 16 {
					t.Fatalf("%d shards of %d files at one byte, want 16: %v", len(groups), len(files), err)
				}
				if objs := shardedAsWhole(t, o); len(objs) != 17 {
					t.Errorf("%d objects built, want 17 (the local config dropped, the List expanded)", len(objs))
				}
			})
		}
	}
}

// Two files defining the same object fail the sharded build as they fail kustomize's.
func TestShardedBuildRefusesTheSameObjectTwice(t *testing.T) {
	files := shardFixture()
	files["app/again.yaml"] = service
	o := Options{Root: writeTree(t, files), Path: "./app", Name: "app", Namespace: "flux-system"}
	for _, n := range []int64{1 << 40, 1} {
		if _, err := withShardBytes(t, n, o); err == nil || !strings.Contains(err.Error(), "already registered id") {
			t.Errorf("shards of %d bytes: %v", n, err)
		}
	}
}

// What acts across objects, or is more than a list of files, is built whole.
func TestShardsOnlyForListsOfFiles(t *testing.T) {
	cases := map[string]struct {
		kustomization string
		o             Options
	}{
		"name prefix":    {"resources: [a.yaml, b.yaml]\n", Options{NamePrefix: "p-"}},
		"patches":        {"resources: [a.yaml, b.yaml]\n", Options{Patches: []kustomize.Patch{{Patch: "[]"}}}},
		"components":     {"resources: [a.yaml, b.yaml]\n", Options{Components: []string{"c"}}},
		"build metadata": {"resources: [a.yaml, b.yaml]\n", Options{BuildMetadata: []kustomizev1.BuildMetadataOption{"originAnnotations"}}},
		"generator":      {"resources: [a.yaml, b.yaml]\nconfigMapGenerator: [{name: g, literals: [k=v]}]\n", Options{}},
		"own namespace":  {"namespace: x\nresources: [a.yaml, b.yaml]\n", Options{}},
		"a directory":    {"resources: [a.yaml, sub]\n", Options{}},
		"a component":    {"apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [a.yaml, b.yaml]\n", Options{}},
		"one file":       {"resources: [a.yaml]\n", Options{}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			root := writeTree(t, map[string]string{
				"app/kustomization.yaml": c.kustomization, "app/a.yaml": service, "app/b.yaml": deployment,
				"app/sub/kustomization.yaml": "resources: []\n",
			})
			fsys, err := newConfinedFS(root)
			if err != nil {
				t.Fatal(err)
			}
			sharding(t, true)
			if groups, err := shards(fsys, fsys.root+"/app", c.o); err != nil || groups != nil {
				t.Errorf("%d shards, %v", len(groups), err)
			}
		})
	}
	// And the list itself is: one shard per file at one byte.
	root := writeTree(t, map[string]string{"app/kustomization.yaml": "resources: [a.yaml, b.yaml]\n", "app/a.yaml": service, "app/b.yaml": deployment})
	fsys, err := newConfinedFS(root)
	if err != nil {
		t.Fatal(err)
	}
	sharding(t, true)
	if groups, err := shards(fsys, fsys.root+"/app", Options{TargetNamespace: "x"}); err != nil || len(groups) != 2 {
		t.Errorf("%d shards of a list of two files, %v", len(groups), err)
	}
}

// shardedAsWhole builds o whole and with each document its own shard, fails t unless both
// give the same objects in the same order, and returns them.
func shardedAsWhole(t *testing.T, o Options) []*unstructured.Unstructured {
	t.Helper()
	whole, err := withShardBytes(t, 1<<40, o)
	if err != nil {
		t.Fatal(err)
	}
	sharded, err := withShardBytes(t, 1, o)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := asJSON(t, whole), asJSON(t, sharded); a != b {
		t.Errorf("sharded build differs from the whole build:\nwhole:   %s\nsharded: %s", a, b)
	}
	return sharded
}

// encryptedFixture is shardFixture with a SOPS-encrypted Secret, and the keys that open it.
func encryptedFixture(t *testing.T) (map[string]string, *decrypt.Keys) {
	secret, recipient := sopstest.NewIdentity(t)
	keys, err := decrypt.KeysFromSecret(map[string][]byte{"identity.agekey": []byte(secret + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	files := shardFixture()
	files["app/secret.enc.yaml"] = string(sopstest.Encrypt(t, "secret.enc.yaml", []byte(plainSecret), "^(data|stringData)$", recipient))
	return files, keys
}

func asJSON(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		data, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String()
}

// The JSON of a built object is kustomize's own.
func TestObjectJSONIsKustomizes(t *testing.T) {
	files := shardFixture()
	files["app/values.yaml"] = `apiVersion: v1
kind: ConfigMap
metadata: {name: values}
data:
  int: "1"
  bool: "true"
  date: "2024-01-01"
  block: |
    line one
    line two
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: typed}
spec:
  count: 3
  ratio: 0.5
  big: 12345678901234
  on: yes
  date: 2024-01-01
  empty: ~
  list: [1, "2", 3.0]
  nested: {a: {b: [true, false]}}
`
	root := writeTree(t, files)
	fsys, err := newConfinedFS(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := fsys.root + "/app"
	if err := generateKustomization(fsys, dir); err != nil {
		t.Fatal(err)
	}
	resources, err := kustomizeBuild(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resources {
		want, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := objectJSON(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", r.CurId(), got, want)
		}
	}
}

// An encrypted file among the files of a sharded build is decrypted as in a whole build.
func TestShardedBuildDecryptsSOPS(t *testing.T) {
	files, keys := encryptedFixture(t)
	o := Options{Root: writeTree(t, files), Path: "./app", TargetNamespace: "team", Name: "app", Namespace: "flux-system", Decrypt: keys}
	db := find(shardedAsWhole(t, o), "Secret", "db")
	if pw, _, _ := unstructured.NestedString(db.Object, "stringData", "password"); pw != "hunter2" || db.GetNamespace() != "team" {
		t.Errorf("decrypted Secret: password %q, namespace %q", pw, db.GetNamespace())
	}
}

// A new revision that changes one document rebuilds its shard only, and gives the result
// of a whole build of that revision.
func TestShardedBuildRebuildsOnlyChangedShards(t *testing.T) {
	files := shardFixture()
	files["app/many.yaml"] = ""
	for i := range 40 {
		files["app/many.yaml"] += fmt.Sprintf("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: many-%02d}\ndata: {v: \"1\"}\n", i)
	}
	sharding(t, true)
	shardDocs = 4
	o := Options{Path: "./app", TargetNamespace: "cache-test", Name: "app", Namespace: "flux-system"}
	build := func(files map[string]string) ([]*unstructured.Unstructured, int, int) {
		t.Helper()
		o.Root = writeTree(t, files)
		fsys, err := newConfinedFS(o.Root)
		if err != nil {
			t.Fatal(err)
		}
		if err := generateKustomization(fsys, fsys.root+"/app"); err != nil {
			t.Fatal(err)
		}
		groups, err := shards(fsys, fsys.root+"/app", o)
		if err != nil {
			t.Fatal(err)
		}
		before := builtShards.hitCount()
		objs, err := Build(o)
		if err != nil {
			t.Fatal(err)
		}
		return objs, len(groups), builtShards.hitCount() - before
	}
	if _, n, hits := build(files); hits != 0 || n < 10 {
		t.Fatalf("first build: %d of %d shards from the cache", hits, n)
	}
	files["app/many.yaml"] = strings.Replace(files["app/many.yaml"], "many-17}\ndata: {v: \"1\"}", "many-17}\ndata: {v: \"2\"}", 1)
	objs, n, hits := build(files)
	if hits != n-1 {
		t.Errorf("a change to one document: %d of %d shards from the cache, want all but one", hits, n)
	}
	sharding(t, false)
	whole, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := asJSON(t, whole), asJSON(t, objs); a != b {
		t.Errorf("partly cached build differs from the whole build:\nwhole:   %s\ncached: %s", a, b)
	}
}

// A build that decrypts keeps nothing: no plaintext outlives its build.
func TestShardedBuildCachesNothingThatDecrypts(t *testing.T) {
	files, keys := encryptedFixture(t)
	sharding(t, true)
	o := Options{Root: writeTree(t, files), Path: "./app", Name: "decrypting", Namespace: "flux-system", Decrypt: keys}
	before := builtShards.hitCount()
	for range 2 {
		if _, err := Build(o); err != nil {
			t.Fatal(err)
		}
	}
	if hits := builtShards.hitCount() - before; hits != 0 {
		t.Errorf("%d shards of a decrypting build from the cache", hits)
	}
}
