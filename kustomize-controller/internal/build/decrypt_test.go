package build

import (
	"encoding/base64"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftless-dev/driftless/kustomize-controller/internal/decrypt"
	"github.com/driftless-dev/driftless/kustomize-controller/sopstest"
)

const plainSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
type: Opaque
stringData:
  password: hunter2
  url: postgres://app@db:5432/app
`

// sopsTree is an app whose Secret is encrypted with sops, and whose overlay changes that
// Secret's namespace, name and labels, as overlays do.
func sopsTree(t *testing.T, recipient string) map[string]string {
	return map[string]string{
		"base/kustomization.yaml": "resources: [secret.enc.yaml]\n" +
			"secretGenerator:\n- name: env\n  envs: [app.env]\n- name: file\n  files: [key.json]\n" +
			"generatorOptions: {disableNameSuffixHash: true}\n",
		"base/secret.enc.yaml": string(sopstest.Encrypt(t, "secret.enc.yaml", []byte(plainSecret), "^(data|stringData)$", recipient)),
		"base/app.env":         string(sopstest.Encrypt(t, "app.env", []byte("API_TOKEN=t0ken\nDEBUG=false\n"), "", recipient)),
		"base/key.json":        string(sopstest.Encrypt(t, "key.json", []byte(`{"private":"k3y"}`), "", recipient)),
		"prod/kustomization.yaml": "resources: [../base]\nnamespace: production\nnamePrefix: prod-\n" +
			"labels: [{pairs: {tier: data}}]\n",
	}
}

func TestBuildDecryptsSOPSBeforeKustomizeTransforms(t *testing.T) {
	secret, recipient := sopstest.NewIdentity(t)
	keys, err := decrypt.KeysFromSecret(map[string][]byte{"identity.agekey": []byte(secret + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	root := writeTree(t, sopsTree(t, recipient))
	objs, err := Build(Options{Root: root, Path: "prod", Name: "app", Namespace: "flux-system", Decrypt: keys})
	if err != nil {
		t.Fatal(err)
	}
	db := find(objs, "Secret", "prod-db")
	if db == nil {
		t.Fatalf("objects: %v", names(objs))
	}
	if pw, _, _ := unstructured.NestedString(db.Object, "stringData", "password"); pw != "hunter2" || db.GetNamespace() != "production" || db.GetLabels()["tier"] != "data" {
		t.Errorf("decrypted Secret: password %q, namespace %q, labels %v", pw, db.GetNamespace(), db.GetLabels())
	}
	if _, ok := db.Object["sops"]; ok {
		t.Error("the sops metadata was applied")
	}
	// Generators read the decrypted files: an env file and a JSON file.
	env, _, _ := unstructured.NestedStringMap(find(objs, "Secret", "prod-env").Object, "data")
	if decoded(t, env["API_TOKEN"]) != "t0ken" || decoded(t, env["DEBUG"]) != "false" || len(env) != 2 {
		t.Errorf("env Secret data: %v", env)
	}
	file, _, _ := unstructured.NestedStringMap(find(objs, "Secret", "prod-file").Object, "data")
	if got := decoded(t, file["key.json"]); !strings.Contains(got, `"private": "k3y"`) && !strings.Contains(got, `"private":"k3y"`) {
		t.Errorf("file Secret data: %q", got)
	}
}

func decoded(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildSOPSFailures(t *testing.T) {
	_, stranger := sopstest.NewIdentity(t)
	otherSecret, _ := sopstest.NewIdentity(t)
	tree := sopsTree(t, stranger)

	// Without spec.decryption, the encrypted Secret fails the build.
	_, err := Build(Options{Root: writeTree(t, tree), Path: "prod", Name: "app", Namespace: "flux-system"})
	if err == nil || !strings.Contains(err.Error(), "is encrypted with SOPS and spec.decryption is not set") {
		t.Errorf("no decryption: %v", err)
	}

	// With a key that is not the recipient's, nothing decrypts.
	wrong, err := decrypt.KeysFromSecret(map[string][]byte{"other.agekey": []byte(otherSecret), "old.asc": []byte("pgp")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(Options{Root: writeTree(t, tree), Path: "prod", Name: "app", Namespace: "flux-system", Decrypt: wrong})
	if err == nil || !strings.Contains(err.Error(), "no key in the decryption Secret opens") || !strings.Contains(err.Error(), "old.asc") {
		t.Errorf("wrong key: %v", err)
	}
	if strings.Contains(err.Error(), otherSecret) {
		t.Errorf("the error shows the key: %v", err)
	}

	// A document changed after it was encrypted fails its MAC check.
	secret, recipient := sopstest.NewIdentity(t)
	keys, err := decrypt.KeysFromSecret(map[string][]byte{"identity.agekey": []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	tree = sopsTree(t, recipient)
	tree["base/secret.enc.yaml"] = strings.Replace(tree["base/secret.enc.yaml"], "name: db", "name: admin", 1)
	_, err = Build(Options{Root: writeTree(t, tree), Path: "prod", Name: "app", Namespace: "flux-system", Decrypt: keys})
	if err == nil || !strings.Contains(err.Error(), "base/secret.enc.yaml") || !strings.Contains(err.Error(), "MAC mismatch") {
		t.Errorf("tampered document: %v", err)
	}
}
