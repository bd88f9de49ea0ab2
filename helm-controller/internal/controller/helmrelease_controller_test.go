package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	helmaction "helm.sh/helm/v4/pkg/action"
	releasecommon "helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/helm-controller/internal/action"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "hr-"}}
	if err := env.Client.Create(testenv.Context(t), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// serveChart plays source-controller: the HelmChart gets an artifact of the chart at version.
func serveChart(t *testing.T, ns, name, version string, extra ...map[string]string) {
	t.Helper()
	ctx := testenv.Context(t)
	url, digest := charts.publish(fmt.Sprintf("/helmchart/%s/%s/demo-%s.tgz", ns, name, version), chartArchive(t, version, extra...))
	testenv.Eventually(t, 30*time.Second, func() error {
		c := &sourcev1.HelmChart{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
			return err
		}
		c.Status.Artifact = &meta.Artifact{Path: "demo.tgz", URL: url, Revision: version, Digest: digest, LastUpdateTime: metav1.Now()}
		c.Status.ObservedGeneration = c.Generation
		return env.Client.Status().Update(ctx, c)
	})
}

func waitRelease(t *testing.T, key client.ObjectKey, check func(*v2.HelmRelease, *metav1.Condition) error) *v2.HelmRelease {
	t.Helper()
	var got *v2.HelmRelease
	testenv.Eventually(t, 60*time.Second, func() error {
		got = &v2.HelmRelease{}
		if err := env.Client.Get(testenv.Context(t), key, got); err != nil {
			return err
		}
		var ready *metav1.Condition
		for i := range got.Status.Conditions {
			if got.Status.Conditions[i].Type == meta.ReadyCondition {
				ready = &got.Status.Conditions[i]
			}
		}
		if ready == nil {
			return fmt.Errorf("no Ready condition: %+v", got.Status)
		}
		return check(got, ready)
	})
	return got
}

func releasedAt(version int, chart string) func(*v2.HelmRelease, *metav1.Condition) error {
	return func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || o.Status.LastReleaseRevision != version || len(o.Status.History) == 0 || o.Status.History[0].ChartVersion != chart {
			return fmt.Errorf("ready %s %s: %s; revision %d, history %d", c.Status, c.Reason, c.Message, o.Status.LastReleaseRevision, len(o.Status.History))
		}
		return nil
	}
}

// A HelmRelease with a chart template: its HelmChart is made, the chart installed when the
// HelmChart gets an artifact, upgraded on new values (from a Secret) and on a new chart
// version, left alone when nothing changed, and uninstalled with its HelmChart removed when it
// is deleted.
func TestHelmReleaseInstallsUpgradesAndUninstalls(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	values := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-values"}, StringData: map[string]string{"values.yaml": "greeting: from-a-secret\n"}}
	if err := env.Client.Create(ctx, values); err != nil {
		t.Fatal(err)
	}
	hr := &v2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
		Spec: v2.HelmReleaseSpec{
			Interval: meta.Duration{Duration: time.Hour},
			Chart: &v2.HelmChartTemplate{Spec: v2.HelmChartTemplateSpec{
				Chart: "demo", Version: "1.x", SourceRef: v2.CrossNamespaceObjectReference{Kind: sourcev1.HelmRepositoryKind, Name: "charts"},
			}},
			Values: &runtime.RawExtension{Raw: []byte(`{"greeting":"inline"}`)},
		},
	}
	if err := env.Client.Create(ctx, hr); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(hr)
	waiting := waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse || c.Reason != meta.ArtifactFailedReason || o.Status.HelmChart != ns+"/"+ns+"-demo" {
			return fmt.Errorf("ready %s %s: %s, helmChart %q", c.Status, c.Reason, c.Message, o.Status.HelmChart)
		}
		return nil
	})
	chart := &sourcev1.HelmChart{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ns + "-demo"}, chart); err != nil {
		t.Fatal(err)
	}
	if chart.Spec.Chart != "demo" || chart.Spec.Version != "1.x" || chart.Labels["helm.toolkit.fluxcd.io/name"] != "demo" {
		t.Errorf("the HelmChart: %+v %+v", chart.Labels, chart.Spec)
	}
	_ = waiting

	serveChart(t, ns, ns+"-demo", "1.0.0")
	got := waitRelease(t, key, releasedAt(1, "1.0.0"))
	c := got.Status.Conditions
	ready := ""
	for _, cond := range c {
		if cond.Type == meta.ReadyCondition {
			ready = cond.Reason + ": " + cond.Message
		}
	}
	if ready != "InstallSucceeded: Helm install succeeded for release "+ns+"/demo.v1 with chart demo@1.0.0" {
		t.Errorf("Ready: %s", ready)
	}
	if got.Status.StorageNamespace != ns || got.Status.LastAttemptedReleaseAction != "install" || !strings.HasPrefix(got.Status.LastAttemptedConfigDigest, "sha256:") {
		t.Errorf("status: %+v", got.Status)
	}
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Data["greeting"] != "inline" {
		t.Fatalf("the rendered ConfigMap: %+v %v", cm.Data, err)
	}
	if cm.Labels["helm.toolkit.fluxcd.io/name"] != "demo" || cm.Labels["helm.toolkit.fluxcd.io/namespace"] != ns {
		t.Errorf("the rendered object lacks its owner labels: %v", cm.Labels)
	}
	if inv := got.Status.Inventory; inv == nil || len(inv.Entries) != 1 || inv.Entries[0] != (v2.ResourceRef{ID: ns + "_demo-config__ConfigMap", Version: "v1"}) {
		t.Errorf("inventory: %+v", got.Status.Inventory)
	}
	secret := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sh.helm.release.v1.demo.v1"}, secret); err != nil {
		t.Fatalf("Helm's release Secret: %v", err)
	}

	// Values from a Secret under the inline ones, then without them: an upgrade each time.
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Values = nil
	got.Spec.ValuesFrom = []meta.ValuesReference{{Kind: "Secret", Name: "demo-values"}}
	if err := env.Client.Patch(ctx, got, patch); err != nil {
		t.Fatal(err)
	}
	waitRelease(t, key, releasedAt(2, "1.0.0"))
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Data["greeting"] != "from-a-secret" {
		t.Fatalf("after the values change: %+v %v", cm.Data, err)
	}
	events := &corev1.EventList{}
	if err := env.Client.List(ctx, events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if strings.Contains(e.Message, "from-a-secret") {
			t.Errorf("a value is in an event: %s", e.Message)
		}
	}

	// A new chart version: upgraded to it.
	serveChart(t, ns, ns+"-demo", "1.1.0")
	upgraded := waitRelease(t, key, releasedAt(3, "1.1.0"))
	if upgraded.Status.History[0].Action != "upgrade" || len(upgraded.Status.History) != 3 {
		t.Errorf("history: %+v", upgraded.Status.History)
	}

	// Nothing changed: a requested reconcile makes no new revision.
	requested := time.Now().Format(time.RFC3339Nano)
	patch = client.MergeFrom(upgraded.DeepCopy())
	upgraded.Annotations = map[string]string{meta.ReconcileRequestAnnotation: requested}
	if err := env.Client.Patch(ctx, upgraded, patch); err != nil {
		t.Fatal(err)
	}
	waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if o.Status.LastHandledReconcileAt != requested {
			return fmt.Errorf("not handled yet")
		}
		if o.Status.LastReleaseRevision != 3 {
			return fmt.Errorf("a reconcile with nothing changed made revision %d", o.Status.LastReleaseRevision)
		}
		return nil
	})

	// 'flux reconcile --force': an upgrade though nothing changed, once.
	forced := time.Now().Add(time.Second).Format(time.RFC3339Nano)
	patch = client.MergeFrom(upgraded.DeepCopy())
	upgraded.Annotations = map[string]string{meta.ReconcileRequestAnnotation: forced, meta.ForceRequestAnnotation: forced}
	if err := env.Client.Patch(ctx, upgraded, patch); err != nil {
		t.Fatal(err)
	}
	upgraded = waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if o.Status.LastHandledForceAt != forced || o.Status.LastReleaseRevision != 4 || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("forceAt %q, revision %d, ready %s", o.Status.LastHandledForceAt, o.Status.LastReleaseRevision, c.Message)
		}
		return nil
	})
	if err := env.Client.List(ctx, events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	annotated := false
	for _, e := range events.Items {
		if e.Reason == v2.UpgradeSucceededReason && e.Annotations["helm.toolkit.fluxcd.io/revision"] == "1.1.0" && e.Annotations["helm.toolkit.fluxcd.io/app-version"] == "1.0" {
			annotated = true
		}
	}
	if !annotated {
		t.Errorf("no UpgradeSucceeded event annotated with the chart's revision and app version: %+v", events.Items)
	}

	if err := env.Client.Delete(ctx, upgraded); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		for _, o := range []client.Object{&corev1.ConfigMap{}, &sourcev1.HelmChart{}, &v2.HelmRelease{}} {
			k := client.ObjectKey{Namespace: ns, Name: "demo-config"}
			switch o.(type) {
			case *sourcev1.HelmChart:
				k.Name = ns + "-demo"
			case *v2.HelmRelease:
				k.Name = "demo"
			}
			if err := env.Client.Get(ctx, k, o); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%T %s is still there (%v)", o, k, err)
			}
		}
		return nil
	})
}

func newRelease(t *testing.T, ns string, mutate func(*v2.HelmRelease)) client.ObjectKey {
	t.Helper()
	hr := &v2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
		Spec: v2.HelmReleaseSpec{
			Interval: meta.Duration{Duration: time.Hour},
			Chart: &v2.HelmChartTemplate{Spec: v2.HelmChartTemplateSpec{
				Chart: "demo", SourceRef: v2.CrossNamespaceObjectReference{Kind: sourcev1.HelmRepositoryKind, Name: "charts"},
			}},
		},
	}
	if mutate != nil {
		mutate(hr)
	}
	if err := env.Client.Create(testenv.Context(t), hr); err != nil {
		t.Fatal(err)
	}
	return client.ObjectKeyFromObject(hr)
}

// Values that cannot be composed (a missing Secret, a key that is not YAML) and a chart that
// refuses the values fail with the reason Flux gives, count the failure (stalled, with no
// install retries by default), and show no value.
func TestHelmReleaseFailures(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	key := newRelease(t, ns, func(hr *v2.HelmRelease) {
		hr.Spec.ValuesFrom = []meta.ValuesReference{{Kind: "Secret", Name: "later"}}
	})
	serveChart(t, ns, ns+"-demo", "1.0.0")
	waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse || c.Reason != v2.InitFailedReason || !strings.Contains(c.Message, "Secret '"+ns+"/later' does not exist") {
			return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	bad := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "later"}, StringData: map[string]string{"values.yaml": "password: [s3cret-value"}}
	if err := env.Client.Create(ctx, bad); err != nil {
		t.Fatal(err)
	}
	hr := &v2.HelmRelease{}
	if err := env.Client.Get(ctx, key, hr); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(hr.DeepCopy())
	hr.Annotations = map[string]string{meta.ReconcileRequestAnnotation: "values-1"}
	if err := env.Client.Patch(ctx, hr, patch); err != nil {
		t.Fatal(err)
	}
	waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Reason != v2.InitFailedReason || !strings.Contains(c.Message, "is not a YAML map") || strings.Contains(c.Message, "s3cret") {
			return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})

	// Values the chart refuses: InstallFailed, counted, Released=False.
	bad.StringData = map[string]string{"values.yaml": "greeting: null\n"}
	if err := env.Client.Update(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, key, hr); err != nil {
		t.Fatal(err)
	}
	patch = client.MergeFrom(hr.DeepCopy())
	hr.Annotations = map[string]string{meta.ReconcileRequestAnnotation: "values-2"}
	if err := env.Client.Patch(ctx, hr, patch); err != nil {
		t.Fatal(err)
	}
	failed := waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		// No install retries by default: the failure stalls the release at once.
		if c.Reason != v2.RetriesExceededReason || !strings.Contains(c.Message, "Helm install failed") || !strings.Contains(c.Message, "greeting is required") || o.Status.InstallFailures != 1 {
			return fmt.Errorf("ready %s %s: %s, install failures %d", c.Status, c.Reason, c.Message, o.Status.InstallFailures)
		}
		return nil
	})
	for _, c := range failed.Status.Conditions {
		if c.Type == v2.ReleasedCondition && (c.Status != metav1.ConditionFalse || c.Reason != v2.InstallFailedReason) {
			t.Errorf("Released: %s %s", c.Status, c.Reason)
		}
	}
	for _, e := range eventsIn(t, ns) {
		if strings.Contains(e.Message, "s3cret") {
			t.Errorf("a value is in an event: %s", e.Message)
		}
	}
}

func eventsIn(t *testing.T, ns string) []corev1.Event {
	t.Helper()
	list := &corev1.EventList{}
	if err := env.Client.List(testenv.Context(t), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// Deleting a suspended HelmRelease leaves its release installed, as in Flux.
func TestSuspendedHelmReleaseDeletedStaysInstalled(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	key := newRelease(t, ns, nil)
	serveChart(t, ns, ns+"-demo", "1.0.0")
	hr := waitRelease(t, key, releasedAt(1, "1.0.0"))
	patch := client.MergeFrom(hr.DeepCopy())
	hr.Spec.Suspend = true
	if err := env.Client.Patch(ctx, hr, patch); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, hr); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(ctx, key, &v2.HelmRelease{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the HelmRelease is still there (%v)", err)
		}
		return nil
	})
	for _, name := range []string{"demo-config"} {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.ConfigMap{}); err != nil {
			t.Errorf("ConfigMap %s: %v", name, err)
		}
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sh.helm.release.v1.demo.v1"}, &corev1.Secret{}); err != nil {
		t.Errorf("the release Secret: %v", err)
	}
}

func setValues(t *testing.T, key client.ObjectKey, raw string) {
	t.Helper()
	hr := &v2.HelmRelease{}
	if err := env.Client.Get(testenv.Context(t), key, hr); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(hr.DeepCopy())
	hr.Spec.Values = &runtime.RawExtension{Raw: []byte(raw)}
	if err := env.Client.Patch(testenv.Context(t), hr, patch); err != nil {
		t.Fatal(err)
	}
}

// An upgrade the API server refuses (an object name that cannot be one) with one retry: rolled
// back to the last good revision (Remediated RollbackSucceeded), tried again, rolled back
// again and Stalled RetriesExceeded; new values that work release again. A first install that
// fails with the default (no retries) is Stalled at once and installed anew on new values.
func TestHelmReleaseRemediation(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	key := newRelease(t, ns, func(hr *v2.HelmRelease) {
		hr.Spec.Upgrade = &v2.Upgrade{Remediation: &v2.UpgradeRemediation{Retries: 1}}
	})
	serveChart(t, ns, ns+"-demo", "1.0.0")
	waitRelease(t, key, releasedAt(1, "1.0.0"))

	setValues(t, key, `{"suffix":"NOT_A_NAME","greeting":"broken"}`)
	stalled := waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Reason != v2.RetriesExceededReason || o.Status.UpgradeFailures != 2 {
			return fmt.Errorf("ready %s %s: %s; upgrade failures %d", c.Status, c.Reason, c.Message, o.Status.UpgradeFailures)
		}
		return nil
	})
	remediated := false
	for _, c := range stalled.Status.Conditions {
		remediated = remediated || (c.Type == v2.RemediatedCondition && c.Status == metav1.ConditionTrue && c.Reason == v2.RollbackSucceededReason)
	}
	if !remediated || stalled.Status.History[0].Action != "rollback" || stalled.Status.History[0].Status != "deployed" {
		t.Errorf("not rolled back: %+v, history[0] %+v", stalled.Status.Conditions, stalled.Status.History[0])
	}
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Data["greeting"] != "hello" {
		t.Errorf("the last good ConfigMap: %+v %v", cm.Data, err)
	}
	setValues(t, key, `{"greeting":"fixed"}`)
	waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || c.Reason != v2.UpgradeSucceededReason || o.Status.UpgradeFailures != 0 {
			return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})

	// A first install that fails: Stalled with no retries, installed afresh on new values.
	ns2 := newNamespace(t)
	key2 := newRelease(t, ns2, func(hr *v2.HelmRelease) {
		hr.Spec.Values = &runtime.RawExtension{Raw: []byte(`{"suffix":"NOT_A_NAME"}`)}
	})
	serveChart(t, ns2, ns2+"-demo", "1.0.0")
	waitRelease(t, key2, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Reason != v2.RetriesExceededReason || o.Status.InstallFailures != 1 {
			return fmt.Errorf("ready %s %s: %s; install failures %d", c.Status, c.Reason, c.Message, o.Status.InstallFailures)
		}
		return nil
	})
	setValues(t, key2, `{"greeting":"second try"}`)
	waitRelease(t, key2, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || c.Reason != v2.InstallSucceededReason {
			return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
}

// A release left 'pending-upgrade' (its controller killed mid-action) is unlocked and upgraded
// on the next change, without a manual step.
func TestHelmReleasePendingIsUnlocked(t *testing.T) {
	ns := newNamespace(t)
	key := newRelease(t, ns, nil)
	serveChart(t, ns, ns+"-demo", "1.0.0")
	waitRelease(t, key, releasedAt(1, "1.0.0"))

	cfg := helmaction.NewConfiguration()
	if err := cfg.Init(action.NewGetter(env.Config, ns), ns, "secret"); err != nil {
		t.Fatal(err)
	}
	last, err := cfg.Releases.Last("demo")
	if err != nil {
		t.Fatal(err)
	}
	// What Helm leaves when killed mid-upgrade: v1 deployed, v2 pending-upgrade.
	pending := *last.(*releasev1.Release)
	info := *pending.Info
	pending.Info, pending.Version = &info, 2
	pending.SetStatus(releasecommon.StatusPendingUpgrade, "killed mid-upgrade")
	if err := cfg.Releases.Create(&pending); err != nil {
		t.Fatal(err)
	}
	setValues(t, key, `{"greeting":"after the crash"}`)
	waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || c.Reason != v2.UpgradeSucceededReason || o.Status.LastReleaseRevision != 3 {
			return fmt.Errorf("ready %s %s: %s; revision %d", c.Status, c.Reason, c.Message, o.Status.LastReleaseRevision)
		}
		return nil
	})
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(testenv.Context(t), client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Data["greeting"] != "after the crash" {
		t.Errorf("after the unlock: %+v %v", cm.Data, err)
	}
}

// A valuesFrom Secret labelled reconcile.fluxcd.io/watch=Enabled upgrades the release as soon
// as its data changes, with no change to the HelmRelease.
func TestHelmReleaseFollowsAWatchedValuesSecret(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "watched", Labels: map[string]string{meta.ReconcileWatchLabel: meta.ReconcileWatchEnabled}},
		StringData: map[string]string{"values.yaml": "greeting: one\n"},
	}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	key := newRelease(t, ns, func(hr *v2.HelmRelease) {
		hr.Spec.ValuesFrom = []meta.ValuesReference{{Kind: "Secret", Name: "watched"}}
	})
	serveChart(t, ns, ns+"-demo", "1.0.0")
	waitRelease(t, key, releasedAt(1, "1.0.0"))
	s.StringData = map[string]string{"values.yaml": "greeting: two\n"}
	if err := env.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitRelease(t, key, releasedAt(2, "1.0.0"))
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Data["greeting"] != "two" {
		t.Errorf("after the Secret changed: %+v %v", cm.Data, err)
	}

	// commonMetadata: a change upgrades, and every object carries it.
	hr := &v2.HelmRelease{}
	if err := env.Client.Get(ctx, key, hr); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(hr.DeepCopy())
	hr.Spec.CommonMetadata = &v2.CommonMetadata{Labels: map[string]string{"team": "web"}, Annotations: map[string]string{"owner": "platform"}}
	if err := env.Client.Patch(ctx, hr, patch); err != nil {
		t.Fatal(err)
	}
	waitRelease(t, key, releasedAt(3, "1.0.0"))
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, cm); err != nil || cm.Labels["team"] != "web" || cm.Annotations["owner"] != "platform" || cm.Labels["helm.toolkit.fluxcd.io/name"] != "demo" {
		t.Errorf("commonMetadata: %v %v %v", cm.Labels, cm.Annotations, err)
	}
}

// A new releaseName uninstalls the old release and installs the new one; a HelmRelease for a
// remote cluster (spec.kubeConfig) installs nothing and is Stalled.
func TestHelmReleaseRenamedAndRemote(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	key := newRelease(t, ns, nil)
	serveChart(t, ns, ns+"-demo", "1.0.0")
	waitRelease(t, key, releasedAt(1, "1.0.0"))
	hr := &v2.HelmRelease{}
	if err := env.Client.Get(ctx, key, hr); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(hr.DeepCopy())
	hr.Spec.ReleaseName = "renamed"
	if err := env.Client.Patch(ctx, hr, patch); err != nil {
		t.Fatal(err)
	}
	got := waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || len(o.Status.History) != 1 || o.Status.History[0].Name != "renamed" {
			return fmt.Errorf("ready %s %s: %s; history %d", c.Status, c.Reason, c.Message, len(o.Status.History))
		}
		return nil
	})
	if got.Status.LastReleaseRevision != 1 {
		t.Errorf("the renamed release is at revision %d", got.Status.LastReleaseRevision)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-config"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the old release's ConfigMap is still there (%v)", err)
		}
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "renamed-config"}, &corev1.ConfigMap{})
	})

	remote := newNamespace(t)
	rkey := newRelease(t, remote, func(hr *v2.HelmRelease) {
		hr.Spec.KubeConfig = &meta.KubeConfigReference{SecretRef: &meta.SecretKeyReference{Name: "remote"}}
	})
	waitRelease(t, rkey, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Reason != meta.ReconciliationFailedReason || !strings.Contains(c.Message, "spec.kubeConfig") || o.Status.HelmChart != "" {
			return fmt.Errorf("ready %s %s: %s; helmChart %q", c.Status, c.Reason, c.Message, o.Status.HelmChart)
		}
		return nil
	})
}

// A HelmRelease waits (DependencyNotReady) for the HelmRelease it depends on, and proceeds as
// soon as that one is ready; a readyExpr that cannot compile stalls it.
func TestHelmReleaseDependsOn(t *testing.T) {
	ns := newNamespace(t)
	app := newRelease(t, ns, func(hr *v2.HelmRelease) {
		hr.Name = "app"
		hr.Spec.DependsOn = []meta.DependencyReference{{Name: "db"}}
	})
	waitRelease(t, app, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Reason != meta.DependencyNotReadyReason || !strings.Contains(c.Message, "dependency '"+ns+"/db' not found") || o.Status.HelmChart != "" {
			return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	db := newRelease(t, ns, func(hr *v2.HelmRelease) { hr.Name = "db" })
	serveChart(t, ns, ns+"-db", "1.0.0")
	waitRelease(t, db, releasedAt(1, "1.0.0"))
	serveChart(t, ns, ns+"-app", "1.0.0") // made once db is ready: no retry is due for an hour
	waitRelease(t, app, releasedAt(1, "1.0.0"))

	bad := newRelease(t, ns, func(hr *v2.HelmRelease) {
		hr.Name = "bad"
		hr.Spec.DependsOn = []meta.DependencyReference{{Name: "db", ReadyExpr: "dep.status.("}}
	})
	waitRelease(t, bad, func(o *v2.HelmRelease, c *metav1.Condition) error {
		if c.Reason != meta.InvalidCELExpressionReason {
			return fmt.Errorf("ready %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
}

// An artifact that is not a chart, or whose bytes are not its digest's, installs nothing and
// says why (ArtifactFailed).
func TestHelmReleaseRefusesABadArtifact(t *testing.T) {
	ctx := testenv.Context(t)
	ns := newNamespace(t)
	key := newRelease(t, ns, nil)
	for _, tc := range []struct {
		name, want string
		data       []byte
		digest     string
	}{
		{"not a chart", "is not a chart", []byte("just some bytes"), ""},
		{"wrong digest", "digest mismatch", chartArchive(t, "1.0.0"), "sha256:" + strings.Repeat("0", 64)},
	} {
		url, digest := charts.publish(fmt.Sprintf("/helmchart/%s/bad-%d.tgz", ns, len(tc.want)), tc.data)
		if tc.digest != "" {
			digest = tc.digest
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			c := &sourcev1.HelmChart{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ns + "-demo"}, c); err != nil {
				return err
			}
			c.Status.Artifact = &meta.Artifact{Path: "demo.tgz", URL: url, Revision: tc.name, Digest: digest, LastUpdateTime: metav1.Now()}
			return env.Client.Status().Update(ctx, c)
		})
		waitRelease(t, key, func(o *v2.HelmRelease, c *metav1.Condition) error {
			if c.Status != metav1.ConditionFalse || c.Reason != meta.ArtifactFailedReason || !strings.Contains(c.Message, tc.want) || o.Status.LastReleaseRevision != 0 {
				return fmt.Errorf("%s: ready %s %s: %s", tc.name, c.Status, c.Reason, c.Message)
			}
			return nil
		})
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sh.helm.release.v1.demo.v1"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("a release was stored: %v", err)
	}
}
