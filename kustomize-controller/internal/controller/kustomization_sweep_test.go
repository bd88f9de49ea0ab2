package controller

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// A kind no Kustomization applies any more is no longer watched, and the client of an account
// no Kustomization acts as is dropped: a controller that has seen many kinds and tenants does
// not hold a watch and a cache for each forever. PodTemplates are applied by no other test.
func TestKustomizationReleasesWatchesAndClientsNoLongerNeeded(t *testing.T) {
	ns := "sweep"
	namespace(t, ns)
	ctx := testenv.Context(t)
	for _, o := range []client.Object{
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "podtemplates", Namespace: ns},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"podtemplates"}, Verbs: []string{"*"}}},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "sweeper", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "podtemplates"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "sweeper", Namespace: ns}},
		},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sweeper", Namespace: ns}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	before, err := env.Watches(ctx, "podtemplates")
	if err != nil {
		t.Fatal(err)
	}
	gitSource(t, "sweep", artifacts.publish(t, "sweep", "main@sha1:0001", map[string]string{
		"template.yaml": "apiVersion: v1\nkind: PodTemplate\nmetadata:\n  name: job\n  namespace: " + ns + "\ntemplate:\n  spec:\n    containers:\n    - name: job\n      image: ghcr.io/example/job:1.0.0\n",
	}))
	ks := kustomization(t, "sweep", "sweep", "./", func(k *kustomizev1.Kustomization) {
		k.Namespace = ns
		k.Spec.SourceRef.Namespace = "default"
		k.Spec.ServiceAccountName = "sweeper"
	})
	waitKS(t, ks, appliedRevision("main@sha1:0001"))
	account := ns + "/sweeper"
	if n, err := env.Watches(ctx, "podtemplates"); err != nil || n != before+1 {
		t.Fatalf("PodTemplates watched %d times, %d before the apply (%v)", n, before, err)
	}
	if _, ok := reconciler.managers.Load(account); !ok {
		t.Fatal("no client for the account while its Kustomization exists")
	}

	if err := env.Client.Delete(ctx, ks); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if exists(t, ns, "job", &corev1.PodTemplate{}) {
			return fmt.Errorf("the PodTemplate was not pruned")
		}
		if n, err := env.Watches(ctx, "podtemplates"); err != nil || n != before {
			return fmt.Errorf("PodTemplates watched %d times, %d before the apply (%v)", n, before, err)
		}
		if _, ok := reconciler.managers.Load(account); ok {
			return fmt.Errorf("the client of %s is still held", account)
		}
		return nil
	})
}
