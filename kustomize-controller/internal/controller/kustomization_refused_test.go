package controller

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
)

// A Kustomization meant for another cluster is not applied to this one.
func TestKustomizationRefusesRemoteClusters(t *testing.T) {
	ns := "remote-target"
	namespace(t, ns)
	gitSource(t, "remote", artifacts.publish(t, "remote", "main@sha1:0001", map[string]string{"a.yaml": configMap("a", ns, "1")}))
	ks := kustomization(t, "remote", "remote", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.KubeConfig = &meta.KubeConfigReference{SecretRef: &meta.SecretKeyReference{Name: "prod-kubeconfig"}}
	})
	got := waitKS(t, ks, notReady(meta.ReconciliationFailedReason, "spec.kubeConfig"))
	if !conditions.IsTrue(got, meta.StalledCondition) {
		t.Errorf("not stalled: %+v", got.Status.Conditions)
	}
	if exists(t, ns, "a", &corev1.ConfigMap{}) {
		t.Fatal("a Kustomization with spec.kubeConfig applied to the local cluster")
	}
}

// A tenant's kustomization cannot make the controller fetch from the network: not another
// tenant's artifact inside flux-system, not the cloud metadata endpoint, not a URL that never
// answers. The remote entry is refused by name, nothing is applied, and nothing is fetched.
func TestKustomizationRefusesRemoteResources(t *testing.T) {
	ns := "remote-resources"
	namespace(t, ns)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = w.Write([]byte(configMap("stolen", ns, "1")))
	}))
	defer srv.Close()
	gitSource(t, "remote-resources", artifacts.publish(t, "remote-resources", "main@sha1:0001", map[string]string{
		"kustomization.yaml": "resources: [local.yaml, " + srv.URL + "/stolen.yaml]\n",
		"local.yaml":         configMap("local", ns, "1"),
	}))
	ks := kustomization(t, "remote-resources", "remote-resources", "./")
	waitKS(t, ks, notReady(meta.BuildFailedReason, "resources entry '"+srv.URL+"/stolen.yaml': remote references are not allowed (--no-remote-bases)"))
	if exists(t, ns, "local", &corev1.ConfigMap{}) || exists(t, ns, "stolen", &corev1.ConfigMap{}) {
		t.Fatal("a revision with a remote resource was applied")
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the controller fetched the remote resource (%d requests)", n)
	}
}

const sopsSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: sops-refused
stringData:
  password: ENC[AES256_GCM,data:p4ss,iv:aXY=,tag:dGFn,type:str]
sops:
  age:
  - recipient: age1example
    enc: |
      -----BEGIN AGE ENCRYPTED FILE-----
      -----END AGE ENCRYPTED FILE-----
  lastmodified: "2026-11-01T00:00:00Z"
  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]
  version: 3.13.3
`

// Without spec.decryption, a SOPS-encrypted Secret is never applied as if its ciphertext
// were the value, and nothing else of that revision is applied either.
func TestKustomizationRefusesEncryptedSecretsWithoutDecryption(t *testing.T) {
	ns := "sops-refused"
	namespace(t, ns)
	files := map[string]string{"db.yaml": sopsSecret, "a.yaml": configMap("a", ns, "1")}
	src := gitSource(t, "sops", artifacts.publish(t, "sops", "main@sha1:0001", files))
	ks := kustomization(t, "sops", "sops", "./")
	waitKS(t, ks, notReady(meta.BuildFailedReason, "Secret/sops-refused/db is encrypted with SOPS and spec.decryption is not set"))
	if exists(t, ns, "db", &corev1.Secret{}) || exists(t, ns, "a", &corev1.ConfigMap{}) {
		t.Fatal("a revision with an encrypted Secret was applied")
	}
	delete(files, "db.yaml")
	setArtifact(t, src, artifacts.publish(t, "sops", "main@sha1:0002", files))
	waitKS(t, ks, appliedRevision("main@sha1:0002"))
}
