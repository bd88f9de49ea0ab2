package build

import (
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
)

// FuzzRemoteReferences checks that no kustomization file escapes the check: any file that
// kustomize itself would parse is parsed by the check too (it never waves through what it
// cannot read), and a reference kustomize would fetch, in any field that names a file or a
// base, is refused.
func FuzzRemoteReferences(f *testing.F) {
	for _, seed := range []string{
		"resources: [https://example.com/cm.yaml]\n",
		"resources:\n- ../base\n- git::https://example.com/org/repo//apps?ref=v1\n",
		"configMapGenerator:\n- name: x\n  files: [k=https://example.com/k]\n",
		"Resources: [github.com/org/repo]\n",
		"components: [git@gitlab.com:org/repo.git]\n",
		"patches:\n- path: https://example.com/p.yaml\n",
		"resources: x\n",
		"{\"resources\": [\"a\"], \"resources\": [\"https://x/y\"]}",
		"a: &a [https://x/y]\nresources: *a\n",
		"",
	} {
		f.Add([]byte(seed), "https://example.com/x.yaml")
	}
	f.Add([]byte("bases: [../base]\n"), "../local")
	f.Fuzz(func(t *testing.T, data []byte, ref string) {
		var k types.Kustomization
		if k.Unmarshal(data) == nil {
			if _, err := remoteReferences(data); err != nil {
				t.Fatalf("kustomize parses %q, the check does not: %v", data, err)
			}
			if refs, _ := remoteReferences(data); len(refs) == 0 {
				for _, r := range append(append(k.Resources, k.Components...), k.Bases...) {
					if isRemote(r) && !strings.Contains(r, "\n") {
						t.Fatalf("%q: the remote entry %q was not found", data, r)
					}
				}
			}
		}
		if strings.Contains(ref, "\n") || !isRemote(ref) {
			return
		}
		for _, field := range []map[string]any{
			{"resources": []string{ref}},
			{"bases": []string{ref}},
			{"components": []string{ref}},
			{"crds": []string{ref}},
			{"generators": []string{ref}},
			{"transformers": []string{ref}},
			{"patches": []map[string]string{{"path": ref}}},
			{"configMapGenerator": []map[string]any{{"name": "x", "files": []string{"key=" + ref}}}},
			{"secretGenerator": []map[string]any{{"name": "x", "envs": []string{ref}}}},
		} {
			doc, err := json.Marshal(field)
			if err != nil {
				t.Skip()
			}
			// Refused as remote, or (control characters) as a file kustomize cannot parse.
			if err := refuseRemote("kustomization.yaml", doc); err == nil {
				t.Fatalf("%s was not refused", doc)
			}
		}
	})
}

// FuzzIsRemote checks that every form kustomize fetches is remote, whatever its host and path.
func FuzzIsRemote(f *testing.F) {
	f.Add("example.com", "org/repo//apps?ref=v1")
	f.Add("127.0.0.1:8080", "cm.yaml")
	f.Add("gitlab.com", "org/repo.git")
	f.Fuzz(func(t *testing.T, host, path string) {
		if host == "" || strings.ContainsAny(host, "/@: \t\r\n") {
			return
		}
		for _, ref := range []string{
			"https://" + host + "/" + path,
			"HTTP://" + host + "/" + path,
			"ssh://git@" + host + "/" + path,
			"git::https://" + host + "/" + path,
			"git::" + host + "/" + path + "//x",
			"github.com/" + path,
			"git@" + host + ":" + path,
			"file://" + "/" + path,
		} {
			if !isRemote(ref) {
				t.Errorf("isRemote(%q) = false", ref)
			}
		}
	})
}
