package build

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A kustomization can name remote resources, bases, components and generator files in many
// forms; each is refused with the entry named, and no connection is ever opened (the server
// the entries point at sees no request).
func TestBuildRefusesRemoteReferences(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = w.Write([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n"))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	local := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n"
	for _, tc := range []struct {
		name, kustomization, wantEntry string
	}{
		{"http resource", "resources: [" + srv.URL + "/cm.yaml]\n", "resources entry '" + srv.URL + "/cm.yaml'"},
		{"https resource", "resources: [https://" + host + "/cm.yaml]\n", "resources entry 'https://"},
		{"git base over http", "resources: ['git::" + srv.URL + "/org/repo.git//apps?ref=v1']\n", "resources entry 'git::"},
		{"github shorthand", "resources: ['github.com/org/repo//apps?ref=v1']\n", "resources entry 'github.com/org/repo//apps?ref=v1'"},
		{"scp style", "resources: ['git@" + host + ":org/repo.git']\n", "resources entry 'git@"},
		{"ssh", "resources: ['ssh://git@" + host + "/org/repo.git']\n", "resources entry 'ssh://"},
		{"file url", "resources: ['file:///etc/kubernetes']\n", "resources entry 'file:///etc/kubernetes'"},
		{"deprecated bases", "bases: [" + srv.URL + "/base]\n", "bases entry"},
		{"component", "components: [" + srv.URL + "/component]\n", "components entry"},
		{"configmap file", "resources: [cm.yaml]\nconfigMapGenerator:\n- name: c\n  files: [config=" + srv.URL + "/config]\n", "configMapGenerator.files entry '" + srv.URL + "/config'"},
		{"secret env", "resources: [cm.yaml]\nsecretGenerator:\n- name: s\n  envs: [" + srv.URL + "/env]\n", "secretGenerator.envs entry"},
		{"patch path", "resources: [cm.yaml]\npatches:\n- path: " + srv.URL + "/patch.yaml\n", "patches.path entry"},
		{"strategic merge patch file", "resources: [cm.yaml]\npatchesStrategicMerge: [" + srv.URL + "/p.yaml]\n", "patchesStrategicMerge entry"},
		{"openapi schema", "resources: [cm.yaml]\nopenapi:\n  path: " + srv.URL + "/schema.json\n", "openapi.path entry"},
		{"transformer config", "resources: [cm.yaml]\ntransformers: [" + srv.URL + "/t.yaml]\n", "transformers entry"},
		{"nested base", "resources: [nested]\n", "nested/kustomization.yaml: resources entry '" + srv.URL + "/cm.yaml'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{
				"app/kustomization.yaml":        tc.kustomization,
				"app/cm.yaml":                   local,
				"app/nested/kustomization.yaml": "resources: [" + srv.URL + "/cm.yaml]\n",
			})
			_, err := Build(Options{Root: root, Path: "app", Name: "app", Namespace: "default"})
			if !errors.Is(err, ErrRemoteReference) || !strings.Contains(err.Error(), tc.wantEntry) {
				t.Fatalf("error %v, want %v naming %q", err, ErrRemoteReference, tc.wantEntry)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the builds opened %d requests to the remote server", n)
	}
}

// Literal values and inline documents that merely contain a URL are not references.
func TestBuildKeepsURLsThatAreNotReferences(t *testing.T) {
	root := writeTree(t, map[string]string{
		"app/kustomization.yaml": `resources: [cm.yaml]
configMapGenerator:
- name: urls
  literals: [upstream=https://example.com/api, mirror=git@example.com:org/repo]
patches:
- patch: |
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: local
      annotations: {docs: "https://example.com/docs"}
`,
		"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n",
	})
	objs, err := Build(Options{Root: root, Path: "app", Name: "app", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if cm := find(objs, "ConfigMap", "local"); cm == nil || cm.GetAnnotations()["docs"] != "https://example.com/docs" {
		t.Fatalf("objects: %v", names(objs))
	}
}

// With AllowRemote (--no-remote-bases=false), remote files are fetched as Flux's default does.
func TestBuildAllowsRemoteWhenAsked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n"))
	}))
	defer srv.Close()
	root := writeTree(t, map[string]string{"app/kustomization.yaml": "resources: [" + srv.URL + "/cm.yaml]\n"})
	objs, err := Build(Options{Root: root, Path: "app", Name: "app", Namespace: "default", AllowRemote: true})
	if err != nil {
		t.Fatal(err)
	}
	if find(objs, "ConfigMap", "fetched") == nil {
		t.Fatalf("objects: %v", names(objs))
	}
}

// The decision alone, for the forms kustomize treats as remote and some that it does not.
func TestIsRemote(t *testing.T) {
	for ref, want := range map[string]bool{
		"https://example.com/cm.yaml":                     true,
		"HTTP://EXAMPLE.COM/cm.yaml":                      true,
		"git::https://example.com/org/repo":               true,
		"GIT::github.com/org/repo":                        true,
		"git::example.com/org/repo":                       true,
		"github.com/org/repo//apps?ref=v1":                true,
		"GitHub.com:org/repo":                             true,
		"git@gitlab.com:org/repo.git":                     true,
		"ssh://git@example.com/org/repo":                  true,
		"file:///tmp/repo":                                true,
		"oci://ghcr.io/org/repo":                          true,
		" https://example.com/padded":                     true,
		"../base":                                         false,
		"apps/github.com/vendored":                        false,
		"deployment.yaml":                                 false,
		"config.d/settings=v":                             false,
		"":                                                false,
		"@notauser/x":                                     false,
		"namespace.yaml@v2":                               false,
		"./examples/https-ingress":                        false,
		"overlays/prod":                                   false,
		"apps/gitrepo":                                    false,
		"1user@host:path (usernames start with a letter)": false,
	} {
		if got := isRemote(ref); got != want {
			t.Errorf("isRemote(%q) = %v, want %v", ref, got, want)
		}
	}
}
