package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// A Kustomization whose duration Go cannot represent (created before the CRDs refused such
// values) fails alone, naming the field: it does not stop the controller's informer, so every
// Kustomization created after it is still reconciled; fixed, it is reconciled too.
func TestKustomizationWithAnUnrepresentableDurationFailsAlone(t *testing.T) {
	suiteLog.showOnFailure(t)
	ns := "duration-beyond-go"
	namespace(t, ns)
	gitSource(t, "beyond", artifacts.publish(t, "beyond", "main@sha1:0001", map[string]string{"cm.yaml": configMap("cm", ns, "1")}))

	// The object predates the CRD's rule: drop the rule, create it, put the rule back.
	withoutDurationRule(t, func() {
		testenv.Eventually(t, 20*time.Second, func() error {
			bad := beyondGo()
			bad.Spec = kustomizev1.KustomizationSpec{
				Interval: meta.Duration{Duration: time.Hour}, Path: "./", Prune: true,
				SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "beyond"},
			}
			raw := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"retryInterval":"9999999999h"}}`))
			if err := env.Client.Create(testenv.Context(t), bad); err != nil && client.IgnoreAlreadyExists(err) != nil {
				return err
			}
			return env.Client.Patch(testenv.Context(t), bad, raw)
		})
	})

	good := kustomization(t, "after-beyond-go", "beyond", "./")
	waitKS(t, good, appliedRevision("main@sha1:0001"))
	// The API server refuses every write to the bad object (its status too) until its spec is
	// fixed: a Warning event names the field.
	testenv.Eventually(t, 20*time.Second, func() error {
		list := &corev1.EventList{}
		if err := env.Client.List(testenv.Context(t), list, client.InNamespace("default")); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Name == "beyond-go" && e.Type == corev1.EventTypeWarning && e.Reason == meta.InvalidDurationReason &&
				strings.Contains(e.Message, `spec.retryInterval: "9999999999h": not a duration Go can represent`) {
				return nil
			}
		}
		return fmt.Errorf("no InvalidDuration event for the Kustomization")
	})
	// Fixed, it is reconciled.
	mergePatch(t, beyondGo(), `{"spec":{"retryInterval":"1m"}}`)
	waitKS(t, beyondGo(), appliedRevision("main@sha1:0001"))
}

func beyondGo() *kustomizev1.Kustomization {
	k := &kustomizev1.Kustomization{}
	k.Name, k.Namespace = "beyond-go", "default"
	return k
}

// withoutDurationRule runs f while the Kustomization CRD's spec.retryInterval has no CEL rule.
func withoutDurationRule(t *testing.T, f func()) {
	t.Helper()
	ctx := testenv.Context(t)
	key := client.ObjectKey{Name: "kustomizations.kustomize.toolkit.fluxcd.io"}
	edit := func(mutate func(*apiextensionsv1.JSONSchemaProps)) {
		testenv.Eventually(t, 20*time.Second, func() error {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := env.Client.Get(ctx, key, crd); err != nil {
				return err
			}
			spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			retry := spec.Properties["retryInterval"]
			mutate(&retry)
			spec.Properties["retryInterval"] = retry
			crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
			return env.Client.Update(ctx, crd)
		})
	}
	var rules apiextensionsv1.ValidationRules
	edit(func(p *apiextensionsv1.JSONSchemaProps) { rules, p.XValidations = p.XValidations, nil })
	if len(rules) == 0 {
		t.Fatal("the CRD has no rule on spec.retryInterval")
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			edit(func(p *apiextensionsv1.JSONSchemaProps) { p.XValidations = rules })
		}
	}
	t.Cleanup(restore)
	f()
	restore()
}
