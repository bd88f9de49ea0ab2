package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

const templatedSettings = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: postbuild
  labels: {cluster: "${cluster_name}"}
data:
  region: ${region}
  token: ${token}
  log: ${log_level:=info}
  script: echo $${HOME}
`

func TestKustomizationPostBuildSubstitution(t *testing.T) {
	namespace(t, "postbuild")
	vars := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pb-vars", Namespace: "default"},
		Data: map[string]string{"region": "eu-west-1", "cluster_name": "from-configmap"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pb-secret", Namespace: "default"},
		Data: map[string][]byte{"token": []byte("s3cr3t")}}
	for _, o := range []client.Object{vars, secret} {
		if err := env.Client.Create(testenv.Context(t), o); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"settings.yaml": templatedSettings}
	src := gitSource(t, "postbuild", artifacts.publish(t, "postbuild", "main@sha1:0001", files))
	ks := kustomization(t, "postbuild", "postbuild", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.Interval = meta.Duration{Duration: 2 * time.Second} // reconciled often, without requests
		k.Spec.PostBuild = &kustomizev1.PostBuild{
			Substitute: map[string]string{"cluster_name": "prod"}, // wins over substituteFrom
			SubstituteFrom: []kustomizev1.SubstituteReference{
				{Kind: "ConfigMap", Name: "pb-vars"},
				{Kind: "Secret", Name: "pb-secret"},
				{Kind: "ConfigMap", Name: "pb-absent", Optional: true},
			},
		}
	})
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
	settings := &corev1.ConfigMap{}
	exists(t, "postbuild", "settings", settings)
	want := map[string]string{"region": "eu-west-1", "token": "s3cr3t", "log": "info", "script": "echo ${HOME}"}
	if fmt.Sprint(settings.Data) != fmt.Sprint(want) || settings.Labels["cluster"] != "prod" {
		t.Fatalf("substituted: data %v, labels %v", settings.Data, settings.Labels)
	}

	// A variable changed in its ConfigMap is applied at the next interval: the build
	// depends on it as on the artifact.
	mergePatch(t, vars, `{"data":{"region":"us-east-1"}}`)
	testenv.Eventually(t, 20*time.Second, func() error {
		if exists(t, "postbuild", "settings", settings); settings.Data["region"] != "us-east-1" {
			return fmt.Errorf("region = %q", settings.Data["region"])
		}
		return nil
	})

	// A commit that uses a variable defined nowhere fails in strict mode, without showing
	// any variable's value; what was applied stays.
	files["settings.yaml"] = strings.Replace(templatedSettings, "${region}", "${regoin}", 1)
	setArtifact(t, src, artifacts.publish(t, "postbuild", "main@sha1:0002", files))
	got := waitKS(t, ks, notReady(meta.BuildFailedReason, `variable not set (strict mode): "regoin"`))
	if msg := ready(got).Message; strings.Contains(msg, "s3cr3t") || !strings.Contains(msg, "ConfigMap/postbuild/settings") {
		t.Errorf("message: %s", msg)
	}
	if exists(t, "postbuild", "settings", settings); settings.Data["region"] != "us-east-1" {
		t.Errorf("the last applied state was lost: %v", settings.Data)
	}

	// A referent that is not optional must exist.
	setArtifact(t, src, artifacts.publish(t, "postbuild", "main@sha1:0003", map[string]string{"settings.yaml": templatedSettings}))
	mergePatch(t, ks, `{"spec":{"postBuild":{"substituteFrom":[{"kind":"ConfigMap","name":"pb-vars"},{"kind":"Secret","name":"pb-secret"},{"kind":"ConfigMap","name":"pb-absent"}]}}}`)
	waitKS(t, ks, notReady(meta.BuildFailedReason, "ConfigMap 'default/pb-absent' not found"))
	mergePatch(t, ks, `{"spec":{"postBuild":{"substituteFrom":[{"kind":"ConfigMap","name":"pb-vars"},{"kind":"Secret","name":"pb-secret"},{"kind":"ConfigMap","name":"pb-absent","optional":true}]}}}`)
	waitKS(t, ks, appliedRevision("main@sha1:0003"))
}

// A ConfigMap labelled reconcile.fluxcd.io/watch: Enabled reconciles the Kustomizations that
// read it as soon as it changes (the interval is an hour), and the reconcile reads the
// unlabelled ones too.
func TestKustomizationWatchesItsConfigs(t *testing.T) {
	namespace(t, "watched-configs")
	watched := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watched-vars", Namespace: "default",
		Labels: map[string]string{meta.ReconcileWatchLabel: meta.ReconcileWatchEnabled}}, Data: map[string]string{"color": "blue"}}
	unwatched := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "unwatched-vars", Namespace: "default"}, Data: map[string]string{"size": "small"}}
	for _, o := range []client.Object{watched, unwatched} {
		if err := env.Client.Create(testenv.Context(t), o); err != nil {
			t.Fatal(err)
		}
	}
	app := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: look\n  namespace: watched-configs\ndata:\n  color: ${color}\n  size: ${size}\n"
	gitSource(t, "watched-configs", artifacts.publish(t, "watched-configs", "main@sha1:0001", map[string]string{"look.yaml": app}))
	ks := kustomization(t, "watched-configs", "watched-configs", "./", func(k *kustomizev1.Kustomization) {
		k.Spec.PostBuild = &kustomizev1.PostBuild{SubstituteFrom: []kustomizev1.SubstituteReference{
			{Kind: "ConfigMap", Name: "watched-vars"}, {Kind: "ConfigMap", Name: "unwatched-vars"},
		}}
	})
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
	look := func() map[string]string {
		cm := &corev1.ConfigMap{}
		exists(t, "watched-configs", "look", cm)
		return cm.Data
	}

	mergePatch(t, unwatched, `{"data":{"size":"large"}}`)
	mergePatch(t, watched, `{"data":{"color":"green"}}`)
	testenv.Eventually(t, 10*time.Second, func() error {
		if got := look(); got["color"] != "green" || got["size"] != "large" {
			return fmt.Errorf("data = %v", got)
		}
		return nil
	})
}
