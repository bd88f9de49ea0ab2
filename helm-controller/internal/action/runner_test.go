package action

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	releasecommon "helm.sh/helm/v4/pkg/release/common"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/testenv"
)

var env *testenv.Environment

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// demoChart renders one ConfigMap whose data comes from the values.
func demoChart(version string) *chartv2.Chart {
	return &chartv2.Chart{
		Metadata: &chartv2.Metadata{APIVersion: "v2", Name: "demo", Version: version, AppVersion: "1.0"},
		Values:   map[string]any{"greeting": "hello"},
		Templates: []*common.File{{Name: "templates/cm.yaml", Data: []byte(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  chart: {{ .Chart.Version | quote }}\n")}},
	}
}

func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "helm-"}}
	if err := env.Client.Create(testenv.Context(t), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func configMap(t *testing.T, ns, name string) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	err := env.Client.Get(testenv.Context(t), client.ObjectKey{Namespace: ns, Name: name}, cm)
	return cm, err
}

// Install, upgrade and uninstall through the Helm SDK against a real API server: the objects
// are applied with server-side apply, each revision is Helm's standard Secret (what 'helm
// history' reads), and an uninstall removes both.
func TestInstallUpgradeUninstall(t *testing.T) {
	ctx := testenv.Context(t)
	ns := namespace(t)
	r, err := NewRunner(env.Config, ns, ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Last("demo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Last before install: %v", err)
	}
	o := Options{ReleaseName: "demo", Namespace: ns, Timeout: time.Minute, Wait: true, ServerSideApply: "true", MaxHistory: 5}
	rel, err := r.Install(ctx, demoChart("1.0.0"), map[string]any{"greeting": "hi"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 1 || rel.Info.Status != releasecommon.StatusDeployed {
		t.Fatalf("installed: v%d %s", rel.Version, rel.Info.Status)
	}
	cm, err := configMap(t, ns, "demo-config")
	if err != nil || cm.Data["greeting"] != "hi" || cm.Data["chart"] != "1.0.0" {
		t.Fatalf("configmap: %+v %v", cm.Data, err)
	}
	ssa := false
	for _, f := range cm.ManagedFields {
		ssa = ssa || f.Operation == metav1.ManagedFieldsOperationApply
	}
	if !ssa {
		t.Error("the object was not applied with server-side apply")
	}

	rel, err = r.Upgrade(ctx, demoChart("1.1.0"), map[string]any{}, o)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 2 || rel.Chart.Metadata.Version != "1.1.0" {
		t.Fatalf("upgraded: v%d %s", rel.Version, rel.Chart.Metadata.Version)
	}
	if cm, _ := configMap(t, ns, "demo-config"); cm.Data["greeting"] != "hello" || cm.Data["chart"] != "1.1.0" {
		t.Errorf("after the upgrade: %+v", cm.Data)
	}
	history, err := r.History("demo")
	if err != nil || len(history) != 2 || history[0].Info.Status != releasecommon.StatusSuperseded {
		t.Fatalf("history: %d %v", len(history), err)
	}
	secrets := &corev1.SecretList{}
	if err := env.Client.List(ctx, secrets, client.InNamespace(ns), client.MatchingLabels{"owner": "helm", "name": "demo"}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range secrets.Items {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "sh.helm.release.v1.demo.v1,sh.helm.release.v1.demo.v2" {
		t.Errorf("release Secrets: %v", names)
	}

	// A template that does not render: the upgrade fails and the release stays at v2.
	broken := demoChart("1.2.0")
	broken.Templates = append(broken.Templates, &common.File{Name: "templates/bad.yaml", Data: []byte("{{ fail \"no\" }}")})
	if _, err := r.Upgrade(ctx, broken, nil, o); err == nil || !strings.Contains(err.Error(), "no") {
		t.Fatalf("a failing template: %v", err)
	}
	if last, err := r.Last("demo"); err != nil || last.Version != 2 {
		t.Fatalf("after a failed render: %+v %v", last, err)
	}

	if err := r.Uninstall("demo", UninstallOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if _, err := configMap(t, ns, "demo-config"); err == nil {
			return fmt.Errorf("the ConfigMap is still there")
		}
		return nil
	})
	if _, err := r.Last("demo"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Last after uninstall: %v", err)
	}
	if err := r.Uninstall("demo", UninstallOptions{Timeout: time.Minute}); !errors.Is(err, ErrNotFound) {
		t.Errorf("uninstalling twice: %v", err)
	}
}
