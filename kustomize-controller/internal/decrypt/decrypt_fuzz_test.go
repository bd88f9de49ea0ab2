package decrypt

import (
	"bytes"
	"strings"
	"testing"

	"github.com/driftless-dev/driftless/kustomize-controller/sopstest"
)

// FuzzFile checks, for any file the build reads, under any name: that decrypting it never
// panics, that what fails says nothing of the plaintext or of the key, and that what
// decrypts is decrypted whole. The seeds are documents of every format, encrypted for the
// key, which the fuzzer then alters.
func FuzzFile(f *testing.F) {
	secret, recipient := sopstest.NewIdentity(f)
	const plaintext = "hunter2-plaintext"
	for name, doc := range map[string]string{
		"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + plaintext + "\n",
		"secret.json": `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"password":"` + plaintext + `"}}`,
		"app.env":     "PASSWORD=" + plaintext + "\nUSER=app\n",
		"app.ini":     "[db]\npassword = " + plaintext + "\n",
	} {
		f.Add(name, sopstest.Encrypt(f, name, []byte(doc), "", recipient))
	}
	f.Add("partial.yaml", sopstest.Encrypt(f, "partial.yaml", []byte("kind: Secret\nstringData:\n  password: "+plaintext+"\n"), "^(data|stringData)$", recipient))
	f.Add("plain.yaml", []byte("kind: ConfigMap\ndata:\n  sops: mac\n"))
	keys, err := KeysFromSecret(map[string][]byte{"identity.agekey": []byte(secret)})
	if err != nil {
		f.Fatal(err)
	}
	key := strings.TrimPrefix(secret, "AGE-SECRET-KEY-")
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		out, err := keys.File(name, data)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, plaintext) || strings.Contains(msg, key) {
				t.Fatalf("the error shows the plaintext or the key: %s", msg)
			}
			return
		}
		if !bytes.Equal(out, data) && bytes.Contains(out, []byte("ENC[AES256_GCM")) {
			t.Fatalf("decrypted in part: %s", out)
		}
	})
}
