package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// waitKS waits until cond holds for the Kustomization and returns it.
func waitKS(t *testing.T, ks *kustomizev1.Kustomization, cond func(*kustomizev1.Kustomization) error) *kustomizev1.Kustomization {
	t.Helper()
	var got *kustomizev1.Kustomization
	testenv.Eventually(t, 30*time.Second, func() error {
		got = getKS(t, ks)
		return cond(got)
	})
	return got
}

// appliedRevision holds when the Kustomization is Ready at revision.
func appliedRevision(revision string) func(*kustomizev1.Kustomization) error {
	return func(ks *kustomizev1.Kustomization) error {
		if c := ready(ks); c == nil || c.Status != metav1.ConditionTrue || ks.Status.LastAppliedRevision != revision {
			return fmt.Errorf("ready = %+v, lastApplied %q", c, ks.Status.LastAppliedRevision)
		}
		return nil
	}
}

// notReady holds when Ready is False with reason and a message containing text.
func notReady(reason, text string) func(*kustomizev1.Kustomization) error {
	return func(ks *kustomizev1.Kustomization) error {
		if c := ready(ks); c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason || !strings.Contains(c.Message, text) {
			return fmt.Errorf("ready = %+v", c)
		}
		return nil
	}
}

func condition(ks *kustomizev1.Kustomization, t string) *metav1.Condition {
	for i := range ks.Status.Conditions {
		if ks.Status.Conditions[i].Type == t {
			return &ks.Status.Conditions[i]
		}
	}
	return nil
}

// exists reports whether the object exists; obj is filled in when it does.
func exists(t *testing.T, ns, name string, obj client.Object) bool {
	t.Helper()
	err := env.Client.Get(testenv.Context(t), types.NamespacedName{Namespace: ns, Name: name}, obj)
	if err != nil && client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	return err == nil
}

func deploymentYAML(name, ns string, replicas int, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  replicas: %[3]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
        - name: app
          image: %[4]s
`, name, ns, replicas, image)
}

func serviceYAML(name, ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  selector: {app: %[1]s}
  ports:
    - port: 80
`, name, ns)
}

// rollOut plays the part of the kubelet and the deployment controller, which the test
// control plane does not run: the Deployment's status says its replicas are available.
func rollOut(t *testing.T, ns, name string) {
	t.Helper()
	d := &appsv1.Deployment{}
	testenv.Eventually(t, 30*time.Second, func() error {
		return env.Client.Get(testenv.Context(t), types.NamespacedName{Namespace: ns, Name: name}, d)
	})
	base := d.DeepCopy()
	n := int32(1)
	if d.Spec.Replicas != nil {
		n = *d.Spec.Replicas
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: "True", Reason: "MinimumReplicasAvailable", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()},
			{Type: appsv1.DeploymentProgressing, Status: "True", Reason: "NewReplicaSetAvailable", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()},
		},
	}
	if err := env.Client.Status().Patch(testenv.Context(t), d, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
}

// requestReconcile sets reconcile.fluxcd.io/requestedAt, as `flux reconcile` does.
func requestReconcile(t *testing.T, ks *kustomizev1.Kustomization, token string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, token)
	if err := env.Client.Patch(testenv.Context(t), ks, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func mergePatch(t *testing.T, obj client.Object, patch string) {
	t.Helper()
	if err := env.Client.Patch(testenv.Context(t), obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}
