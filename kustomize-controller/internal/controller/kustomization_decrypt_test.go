package controller

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/sopstest"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

func dbSecret(ns, password string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: " + ns + "\nstringData:\n  password: " + password + "\n"
}

func TestKustomizationDecryptsSOPS(t *testing.T) {
	ns := "sops-decrypt"
	namespace(t, ns)
	identity, recipient := sopstest.NewIdentity(t)
	keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sops-age", Namespace: "default"},
		Data: map[string][]byte{"identity.agekey": []byte(identity)}}
	if err := env.Client.Create(testenv.Context(t), keys); err != nil {
		t.Fatal(err)
	}
	encrypted := func(password string) string {
		return string(sopstest.Encrypt(t, "db.enc.yaml", []byte(dbSecret(ns, password)), "^(data|stringData)$", recipient))
	}
	files := map[string]string{"db.enc.yaml": encrypted("hunter2"), "a.yaml": configMap("a", ns, "1")}
	src := gitSource(t, "sops-decrypt", artifacts.publish(t, "sops-decrypt", "main@sha1:0001", files))
	ks := kustomization(t, "sops-decrypt", "sops-decrypt", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.Decryption = &kustomizev1.Decryption{Provider: kustomizev1.DecryptionProviderSOPS, SecretRef: &meta.LocalObjectReference{Name: "sops-age"}}
	})
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
	db := &corev1.Secret{}
	if !exists(t, ns, "db", db) || string(db.Data["password"]) != "hunter2" {
		t.Fatalf("decrypted Secret: %v", db.Data)
	}

	// The decryption Secret loses its key: the next revision cannot be decrypted, which the
	// status says without a secret in it, and the applied Secret stays as it was.
	keys.Data = map[string][]byte{"identity.agekey": []byte(secretOf(sopstest.NewIdentity(t)))}
	if err := env.Client.Update(testenv.Context(t), keys); err != nil {
		t.Fatal(err)
	}
	files["db.enc.yaml"] = encrypted("correct-horse")
	setArtifact(t, src, artifacts.publish(t, "sops-decrypt", "main@sha1:0002", files))
	got := waitKS(t, ks, notReady(meta.BuildFailedReason, "decrypting db.enc.yaml: no key in the decryption Secret opens"))
	if msg := ready(got).Message; strings.Contains(msg, "correct-horse") || strings.Contains(msg, identity) {
		t.Errorf("the condition shows a secret: %s", msg)
	}
	if exists(t, ns, "db", db); string(db.Data["password"]) != "hunter2" {
		t.Errorf("the applied Secret changed: %v", db.Data)
	}

	// The key is back: the revision is applied.
	keys.Data = map[string][]byte{"identity.agekey": []byte(identity)}
	if err := env.Client.Update(testenv.Context(t), keys); err != nil {
		t.Fatal(err)
	}
	requestReconcile(t, ks, "key-restored")
	waitKS(t, ks, appliedRevision("main@sha1:0002"))
	if exists(t, ns, "db", db); string(db.Data["password"]) != "correct-horse" {
		t.Errorf("the new revision's Secret: %v", db.Data)
	}
	// No event of this Kustomization carries a plaintext.
	events := &corev1.EventList{}
	if err := env.Client.List(testenv.Context(t), events, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	for _, ev := range events.Items {
		if ev.InvolvedObject.Name == ks.Name && (strings.Contains(ev.Message, "hunter2") || strings.Contains(ev.Message, "correct-horse")) {
			t.Errorf("event shows a secret: %s", ev.Message)
		}
	}
}

// secretOf keeps the secret key of an identity.
func secretOf(secret, _ string) string { return secret }

// The controller's own age keys (--sops-age-secret) decrypt for a Kustomization that names
// no Secret of its own.
func TestKustomizationDecryptsWithTheControllersKeys(t *testing.T) {
	ns := "sops-controller-keys"
	namespace(t, ns)
	identity, recipient := sopstest.NewIdentity(t)
	keys := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sops-age-controller", Namespace: "default"},
		Data: map[string][]byte{"controller.agekey": []byte(identity)}}
	if err := env.Client.Create(testenv.Context(t), keys); err != nil {
		t.Fatal(err)
	}
	doc := sopstest.Encrypt(t, "db.enc.yaml", []byte(dbSecret(ns, "s3cr3t")), "^(data|stringData)$", recipient)
	gitSource(t, "sops-controller-keys", artifacts.publish(t, "sops-controller-keys", "main@sha1:0001", map[string]string{"db.enc.yaml": string(doc)}))
	ks := kustomization(t, "sops-controller-keys", "sops-controller-keys", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.Decryption = &kustomizev1.Decryption{Provider: kustomizev1.DecryptionProviderSOPS}
	})
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
	if db := (&corev1.Secret{}); !exists(t, ns, "db", db) || string(db.Data["password"]) != "s3cr3t" {
		t.Fatalf("decrypted Secret: %v", db.Data)
	}
}
