package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	releasecommon "helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/helm-controller/internal/action"
	"github.com/driftless-dev/driftless/helm-controller/internal/release"
	"github.com/driftless-dev/driftless/helm-controller/internal/values"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
)

// attempt is one install or upgrade of the release and what its failure does.
type attempt struct {
	install bool
	// m is the remediation of the action; failures its counter.
	m        remediation
	failures *int64
	// verb, title and the reasons name the action in the status and events.
	verb, title, succeeded, failed string
}

func newAttempt(obj *v2.HelmRelease, install bool) attempt {
	if install {
		return attempt{install: true, m: installRemediation(obj), failures: &obj.Status.InstallFailures,
			verb: "install", title: "Helm install", succeeded: v2.InstallSucceededReason, failed: v2.InstallFailedReason}
	}
	return attempt{m: upgradeRemediation(obj), failures: &obj.Status.UpgradeFailures,
		verb: "upgrade", title: "Helm upgrade", succeeded: v2.UpgradeSucceededReason, failed: v2.UpgradeFailedReason}
}

// reconcileRelease installs the release when it is absent and upgrades it when its chart,
// values, post-renderers or common metadata changed; a release in sync is left alone, tested
// once when tests are enabled. A release left 'pending-*' is unlocked; a failed install with
// nothing deployed is removed and installed again. After a failure (of the action, or of its
// tests unless they are ignored) the remediation of install/upgrade.remediation runs
// (uninstall; rollback or uninstall) while retries remain; then the release is Stalled
// RetriesExceeded until the chart, the values or the spec change, or a forceAt request.
// Sets: Released, TestSuccess, Remediated, inventory. Fails with: InstallFailed /
// UpgradeFailed / TestFailed; Stalled RetriesExceeded.
func (r *HelmReleaseReconciler) reconcileRelease(ctx context.Context, s *releaseScope) error {
	obj := s.Object
	runner, err := r.runner(ctx, obj)
	if err != nil {
		return lifecycle.Failed("", v2.InitFailedReason, err)
	}
	name := release.Name(obj)
	if err := r.uninstallMoved(ctx, s, name); err != nil {
		return err
	}
	obj.Status.StorageNamespace = release.StorageNamespace(obj)
	version := s.loaded.Metadata.Version
	if obj.Status.LastAttemptedRevision != version || obj.Status.LastAttemptedConfigDigest != s.digest || obj.Status.LastAttemptedGeneration != obj.Generation {
		// A new chart, new values or a new spec: a fresh set of attempts.
		resetFailures(obj)
	}
	if v, ok := meta.HandleRequest(obj.GetAnnotations(), meta.ResetRequestAnnotation, obj.Status.LastHandledResetAt); ok {
		resetFailures(obj)
		obj.Status.LastHandledResetAt = v
	}
	force, forced := meta.HandleRequest(obj.GetAnnotations(), meta.ForceRequestAnnotation, obj.Status.LastHandledForceAt)
	last, err := runner.Last(name)
	if err != nil && !errors.Is(err, action.ErrNotFound) {
		return lifecycle.Failed("", v2.GetLastReleaseFailedReason, fmt.Errorf("reading release '%s/%s': %w", obj.Status.StorageNamespace, name, err))
	}
	if last != nil && last.Info != nil && last.Info.Status.IsPending() {
		if err := runner.Unlock(last); err != nil {
			return lifecycle.Failed("", v2.GetLastReleaseFailedReason, fmt.Errorf("unlocking release '%s/%s': %w", obj.Status.StorageNamespace, name, err))
		}
	}
	install := last == nil
	if last != nil && last.Info != nil && last.Info.Status != releasecommon.StatusDeployed {
		if _, err := runner.Deployed(name); errors.Is(err, action.ErrNotFound) {
			install = true // nothing deployed: a failed install, not a release to upgrade
		}
	}
	if !install && last != nil && last.Chart != nil && last.Chart.Metadata != nil && last.Chart.Metadata.Name != s.loaded.Metadata.Name &&
		(obj.Spec.Upgrade == nil || obj.Spec.Upgrade.ChartNameChangeStrategy != "InPlaceUpdate") {
		// chartNameChangeStrategy Reinstall (the default): another chart is installed afresh.
		if err := runner.Uninstall(name, uninstallOptions(obj)); err != nil && !errors.Is(err, action.ErrNotFound) {
			return lifecycle.Failed("", v2.UninstallFailedReason, fmt.Errorf("uninstalling release '%s' of chart %s to install chart %s: %w", name, last.Chart.Metadata.Name, s.loaded.Metadata.Name, err))
		}
		s.Announce(v2.UninstallSucceededReason, "Helm uninstall succeeded for release %s/%s.v%d: the chart changed from %s to %s", last.Namespace, name, last.Version, last.Chart.Metadata.Name, s.loaded.Metadata.Name)
		forgetRelease(obj)
		install, last = true, nil
	}
	if !forced && r.inSync(obj, last, s.loaded.Metadata.Name, version, s.digest) {
		if done, err := r.reconcileInSync(ctx, s, runner, last); done {
			return err
		}
	}
	a := newAttempt(obj, install)
	if !forced && !a.m.retryOnFailure && a.m.exhausted(*a.failures) {
		return lifecycle.Stalled("", v2.RetriesExceededReason, fmt.Errorf("Failed to %s after %d attempt(s)", a.verb, *a.failures))
	}
	if forced {
		obj.Status.LastHandledForceAt = force
	}
	o := upgradeOptions(obj, name)
	if install {
		o = installOptions(obj, name)
		if last != nil {
			// The failed install goes first, so that the name is free.
			u := uninstallOptions(obj)
			u.DisableHooks, u.KeepHistory = true, false
			if err := runner.Uninstall(name, u); err != nil && !errors.Is(err, action.ErrNotFound) {
				return lifecycle.Failed("", v2.UninstallFailedReason, fmt.Errorf("removing the failed install of '%s': %w", name, err))
			}
		}
	}
	start := time.Now()
	var rel *releasev1.Release
	if install {
		rel, err = runner.Install(ctx, s.loaded, s.values, o)
	} else {
		rel, err = runner.Upgrade(ctx, s.loaded, s.values, o)
	}
	obj.Status.LastAttemptedReleaseAction = a.verb
	obj.Status.LastAttemptedReleaseActionDuration = &meta.Duration{Duration: time.Since(start).Round(time.Millisecond)}
	obj.Status.LastAttemptedRevision, obj.Status.LastAttemptedConfigDigest = version, s.digest
	obj.Status.LastAttemptedGeneration = obj.Generation
	if rel != nil {
		obj.Status.LastReleaseRevision = rel.Version
		obj.Status.History = record(obj.Status.History, rel, a.verb)
	}
	target := fmt.Sprintf("release %s/%s", release.TargetNamespace(obj), name)
	if err != nil {
		msg := fmt.Sprintf("%s failed for %s with chart %s@%s: %v", a.title, target, s.loaded.Metadata.Name, version, err)
		conditions.MarkFalse(obj, v2.ReleasedCondition, a.failed, "%s", msg)
		return r.failed(s, runner, name, a, a.failed, msg)
	}
	obj.Status.ObservedCommonMetadataDigest = commonMetadataDigest(obj)
	obj.Status.ObservedPostRenderersDigest = postRenderersDigest(obj)
	r.recordInventory(s, rel)
	conditions.Delete(obj, v2.RemediatedCondition)
	conditions.Delete(obj, v2.TestSuccessCondition)
	msg := fmt.Sprintf("%s succeeded for %s.v%d with chart %s@%s", a.title, target, rel.Version, s.loaded.Metadata.Name, version)
	conditions.MarkTrue(obj, v2.ReleasedCondition, a.succeeded, "%s", msg)
	s.Announce(a.succeeded, "%s", msg)
	if enabled, _ := testPolicy(obj, install); enabled {
		if err := r.test(s, runner, name, a); err != nil {
			return err
		}
	}
	resetFailures(obj)
	return r.reconcileDrift(ctx, s, rel)
}

func resetFailures(obj *v2.HelmRelease) {
	obj.Status.Failures, obj.Status.InstallFailures, obj.Status.UpgradeFailures = 0, 0, 0
}

// forgetRelease clears what the status says of a release that was uninstalled to install
// another in its place: its history, revision, inventory and failures.
func forgetRelease(obj *v2.HelmRelease) {
	obj.Status.History, obj.Status.LastReleaseRevision, obj.Status.Inventory = nil, 0, nil
	resetFailures(obj)
}

// inSync reports whether the deployed release is the one the spec asks for: the revision the
// history names, with the chart name and version, values, post-renderers and common metadata
// last released.
func (r *HelmReleaseReconciler) inSync(obj *v2.HelmRelease, last *releasev1.Release, chart, version, digest string) bool {
	if last == nil || last.Info == nil || last.Info.Status != releasecommon.StatusDeployed || len(obj.Status.History) == 0 {
		return false
	}
	h := obj.Status.History[0]
	return h.Version == last.Version && h.ChartName == chart && h.ChartVersion == version && h.ConfigDigest == digest &&
		obj.Status.ObservedCommonMetadataDigest == commonMetadataDigest(obj) &&
		obj.Status.ObservedPostRenderersDigest == postRenderersDigest(obj)
}

// reconcileInSync handles a release in sync: its inventory recorded, its tests run once when
// enabled and not run yet, its drift detected (and corrected). Tests that failed, unless
// ignored, keep the release failed: done is false while retries remain, and the action runs
// again.
func (r *HelmReleaseReconciler) reconcileInSync(ctx context.Context, s *releaseScope, runner *action.Runner, last *releasev1.Release) (done bool, err error) {
	obj := s.Object
	if obj.Status.Inventory == nil {
		r.recordInventory(s, last)
	}
	h := obj.Status.History[0]
	a := newAttempt(obj, h.Action == "install")
	enabled, ignore := testPolicy(obj, a.install)
	switch {
	case !enabled:
		conditions.Delete(obj, v2.TestSuccessCondition)
		return true, r.reconcileDrift(ctx, s, last)
	case h.TestHooks == nil:
		return true, r.test(s, runner, last.Name, a)
	case ignore || !testsFailed(h):
		return true, r.reconcileDrift(ctx, s, last)
	case a.m.retryOnFailure || !a.m.exhausted(*a.failures):
		return false, nil // the failed tests count as a failed action: it runs again
	}
	return true, lifecycle.Stalled("", v2.RetriesExceededReason, fmt.Errorf("Failed to %s after %d attempt(s): its tests failed", a.verb, *a.failures))
}

// test runs the release's tests and records their hooks in the history. A failure, unless
// ignored, is a failure of the action a: counted and remediated as one.
func (r *HelmReleaseReconciler) test(s *releaseScope, runner *action.Runner, name string, a attempt) error {
	obj := s.Object
	run, skip := testFilters(obj)
	timeout := releaseTimeout(obj)
	if obj.Spec.Test != nil {
		timeout = durationOr(obj.Spec.Test.Timeout, timeout)
	}
	rel, err := runner.Test(name, timeout, run, skip)
	h := obj.Status.History[0]
	if rel != nil && rel.Version == h.Version {
		h.TestHooks = testHooks(rel)
	}
	target := fmt.Sprintf("release %s/%s.v%d", h.Namespace, h.Name, h.Version)
	_, ignore := testPolicy(obj, a.install)
	if err == nil {
		n := 0
		if h.TestHooks != nil {
			n = len(*h.TestHooks)
		}
		msg := fmt.Sprintf("Helm test succeeded for %s with chart %s@%s: %d test hook(s) completed successfully", target, h.ChartName, h.ChartVersion, n)
		conditions.MarkTrue(obj, v2.TestSuccessCondition, v2.TestSucceededReason, "%s", msg)
		s.Announce(v2.TestSucceededReason, "%s", msg)
		resetFailures(obj)
		return nil
	}
	if h.TestHooks == nil {
		h.TestHooks = &map[string]*v2.TestHookStatus{}
	}
	msg := fmt.Sprintf("Helm test failed for %s with chart %s@%s: %v", target, h.ChartName, h.ChartVersion, err)
	conditions.MarkFalse(obj, v2.TestSuccessCondition, v2.TestFailedReason, "%s", msg)
	if ignore {
		s.Announce(v2.TestFailedReason, "%s (failures ignored)", msg)
		resetFailures(obj)
		return nil
	}
	return r.failed(s, runner, name, a, v2.TestFailedReason, msg)
}

// failed counts a failure of the attempt and remediates it while retries remain (or after the
// last, with remediateLastFailure); then the release is Stalled RetriesExceeded. With
// RetryOnFailure it is retried without remediation.
func (r *HelmReleaseReconciler) failed(s *releaseScope, runner *action.Runner, name string, a attempt, reason, msg string) error {
	obj := s.Object
	obj.Status.Failures++
	*a.failures++
	if a.m.retryOnFailure {
		return lifecycle.Failed("", reason, errors.New(msg))
	}
	exhausted := a.m.exhausted(*a.failures)
	if !exhausted || a.m.remediateLast {
		r.remediate(s, runner, name, a)
	}
	if exhausted {
		return lifecycle.Stalled("", v2.RetriesExceededReason, fmt.Errorf("%s; no retries left (%d attempt(s))", msg, *a.failures))
	}
	return lifecycle.Failed("", reason, errors.New(msg))
}

// testsFailed reports whether a test hook of the snapshot did not succeed.
func testsFailed(h *v2.Snapshot) bool {
	if h.TestHooks == nil {
		return false
	}
	if len(*h.TestHooks) == 0 {
		return true // the test run failed before any hook ran
	}
	for _, t := range *h.TestHooks {
		if t.Phase != string(releasev1.HookPhaseSucceeded) {
			return true
		}
	}
	return false
}

// testHooks are the test hooks of the release and how their last run went.
func testHooks(rel *releasev1.Release) *map[string]*v2.TestHookStatus {
	out := map[string]*v2.TestHookStatus{}
	for _, h := range rel.Hooks {
		for _, e := range h.Events {
			if e != releasev1.HookTest || h.LastRun.Phase == "" {
				continue
			}
			st := &v2.TestHookStatus{Phase: h.LastRun.Phase.String()}
			if !h.LastRun.StartedAt.IsZero() {
				st.LastStarted = metav1.NewTime(h.LastRun.StartedAt)
			}
			if !h.LastRun.CompletedAt.IsZero() {
				st.LastCompleted = metav1.NewTime(h.LastRun.CompletedAt)
			}
			out[h.Name] = st
		}
	}
	return &out
}

// inventoryID is an object's id in status.inventory: '<namespace>_<name>_<group>_<kind>'.
func inventoryID(namespace, name string, gk schema.GroupKind) string {
	return strings.Join([]string{namespace, name, gk.Group, gk.Kind}, "_")
}

// recordInventory sets status.inventory to the objects of the release (its manifest and, unless
// skipped, the chart's CRDs), sorted; hooks are not part of it. A manifest that cannot be read
// leaves the inventory as it was: it is informative, the release is what counts.
func (r *HelmReleaseReconciler) recordInventory(s *releaseScope, rel *releasev1.Release) {
	obj := s.Object
	objects, err := action.Objects(rel, r.RESTMapper(), installCRDs(obj) == action.SkipCRDs)
	if err != nil {
		return
	}
	inv := &v2.ResourceInventory{Entries: make([]v2.ResourceRef, 0, len(objects))}
	for _, o := range objects {
		gvk := o.GroupVersionKind()
		inv.Entries = append(inv.Entries, v2.ResourceRef{ID: inventoryID(o.GetNamespace(), o.GetName(), gvk.GroupKind()), Version: gvk.Version})
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].ID < inv.Entries[j].ID })
	obj.Status.Inventory = inv
	s.objects = objects
	if driftMode(obj) != "disabled" {
		r.track(objects) // watched for drift only when it is detected
	}
}

// uninstallMoved uninstalls the release the history names when the release name, target
// namespace or storage namespace changed since: the new one is installed afresh, as in Flux.
func (r *HelmReleaseReconciler) uninstallMoved(ctx context.Context, s *releaseScope, name string) error {
	obj := s.Object
	if len(obj.Status.History) == 0 {
		return nil
	}
	h, storage := obj.Status.History[0], obj.Status.StorageNamespace
	if storage == "" {
		storage = release.StorageNamespace(obj)
	}
	if h.Name == name && h.Namespace == release.TargetNamespace(obj) && storage == release.StorageNamespace(obj) {
		return nil
	}
	old, err := r.runnerIn(ctx, obj, storage, h.Namespace)
	if err != nil {
		return lifecycle.Failed("", v2.InitFailedReason, err)
	}
	if err := old.Uninstall(h.Name, uninstallOptions(obj)); err != nil && !errors.Is(err, action.ErrNotFound) {
		return lifecycle.Failed("", v2.UninstallFailedReason, fmt.Errorf("uninstalling the release '%s/%s' this HelmRelease no longer names: %w", h.Namespace, h.Name, err))
	}
	s.Announce(v2.UninstallSucceededReason, "Helm uninstall succeeded for release %s/%s.v%d: the release name or namespace changed", h.Namespace, h.Name, h.Version)
	forgetRelease(obj)
	return nil
}

// remediation is what install/upgrade.remediation says to do after a failure.
type remediation struct {
	// retries is how many failures are retried (negative: every one).
	retries int
	// remediateLast remediates after the last failure too.
	remediateLast bool
	// uninstall instead of rollback (upgrades).
	uninstall bool
	// retryOnFailure: strategy RetryOnFailure, retried without remediation and never exhausted.
	retryOnFailure bool
}

func (m remediation) exhausted(failures int64) bool {
	return m.retries >= 0 && failures > int64(m.retries)
}

func installRemediation(obj *v2.HelmRelease) remediation {
	m := remediation{uninstall: true}
	if in := obj.Spec.Install; in != nil {
		if rm := in.Remediation; rm != nil {
			m.retries = rm.Retries
			m.remediateLast = rm.RemediateLastFailure != nil && *rm.RemediateLastFailure
		}
		m.retryOnFailure = in.Strategy != nil && in.Strategy.Name == "RetryOnFailure"
	}
	return m
}

func upgradeRemediation(obj *v2.HelmRelease) remediation {
	m := remediation{}
	if up := obj.Spec.Upgrade; up != nil {
		if rm := up.Remediation; rm != nil {
			m.retries = rm.Retries
			m.remediateLast = rm.Retries > 0
			if rm.RemediateLastFailure != nil {
				m.remediateLast = *rm.RemediateLastFailure
			}
			m.uninstall = rm.Strategy != nil && *rm.Strategy == "uninstall"
		}
		m.retryOnFailure = up.Strategy != nil && up.Strategy.Name == "RetryOnFailure"
	}
	return m
}

// retryInterval is how soon a release failing with RetryOnFailure is tried again:
// strategy.retryInterval, else spec.interval (zero when it does not retry so).
func retryInterval(obj *v2.HelmRelease) time.Duration {
	for _, st := range []*v2.Strategy{installStrategy(obj), upgradeStrategy(obj)} {
		if st != nil && st.Name == "RetryOnFailure" {
			return durationOr(st.RetryInterval, obj.Spec.Interval.Duration)
		}
	}
	return 0
}

func installStrategy(obj *v2.HelmRelease) *v2.Strategy {
	if obj.Spec.Install == nil {
		return nil
	}
	return obj.Spec.Install.Strategy
}

func upgradeStrategy(obj *v2.HelmRelease) *v2.Strategy {
	if obj.Spec.Upgrade == nil {
		return nil
	}
	return obj.Spec.Upgrade.Strategy
}

// remediate undoes a failed action: a failed install is uninstalled; a failed upgrade is
// rolled back to the previous revision (or uninstalled). Remediated tells the outcome.
func (r *HelmReleaseReconciler) remediate(s *releaseScope, runner *action.Runner, name string, a attempt) {
	obj := s.Object
	target := fmt.Sprintf("release %s/%s", release.TargetNamespace(obj), name)
	if a.install || a.m.uninstall {
		verb := "uninstall"
		if !a.install {
			verb = "uninstall-remediation"
		}
		if err := runner.Uninstall(name, uninstallOptions(obj)); err != nil && !errors.Is(err, action.ErrNotFound) {
			conditions.MarkFalse(obj, v2.RemediatedCondition, v2.UninstallFailedReason, "Helm uninstall failed for %s: %v", target, err)
			return
		}
		if len(obj.Status.History) > 0 {
			obj.Status.History[0].Action = verb
		}
		obj.Status.Inventory = nil
		conditions.MarkTrue(obj, v2.RemediatedCondition, v2.UninstallSucceededReason, "Helm uninstall succeeded for %s", target)
		s.Announce(v2.UninstallSucceededReason, "Helm uninstall succeeded for %s", target)
		return
	}
	if err := runner.Rollback(name, 0, rollbackOptions(obj, name)); err != nil {
		conditions.MarkFalse(obj, v2.RemediatedCondition, v2.RollbackFailedReason, "Helm rollback failed for %s: %v", target, err)
		return
	}
	if rel, err := runner.Last(name); err == nil {
		obj.Status.LastReleaseRevision = rel.Version
		obj.Status.History = record(obj.Status.History, rel, "rollback")
		r.recordInventory(s, rel)
	}
	conditions.MarkTrue(obj, v2.RemediatedCondition, v2.RollbackSucceededReason, "Helm rollback to previous release %s succeeded", target)
	s.Announce(v2.RollbackSucceededReason, "Helm rollback to previous release %s succeeded", target)
}

// commonMetadataDigest identifies spec.commonMetadata (empty when unset), so that a change of it
// upgrades the release.
func commonMetadataDigest(obj *v2.HelmRelease) string {
	cm := obj.Spec.CommonMetadata
	if cm == nil || (len(cm.Labels) == 0 && len(cm.Annotations) == 0) {
		return ""
	}
	return values.Digest(map[string]any{"labels": cm.Labels, "annotations": cm.Annotations})
}

// record puts the release at the head of the history (replacing its own revision); its config
// digest is that of the values Helm stored with it.
func record(history v2.Snapshots, rel *releasev1.Release, verb string) v2.Snapshots {
	snap := &v2.Snapshot{APIVersion: "v2", Name: rel.Name, Namespace: rel.Namespace, Version: rel.Version, Action: verb,
		ConfigDigest: values.Digest(rel.Config), Digest: fmt.Sprintf("%s.v%d", rel.Name, rel.Version)}
	if rel.Info != nil {
		snap.Status = rel.Info.Status.String()
		snap.FirstDeployed, snap.LastDeployed = metav1.NewTime(rel.Info.FirstDeployed), metav1.NewTime(rel.Info.LastDeployed)
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		snap.ChartName, snap.ChartVersion, snap.AppVersion = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion
	}
	out := v2.Snapshots{snap}
	for _, h := range history {
		if h.Version != rel.Version && len(out) < 5 {
			out = append(out, h)
		}
	}
	return out
}
