package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/jsondiff"
	"github.com/prometheus/client_golang/prometheus"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/helm-controller/internal/action"
	"github.com/driftless-dev/driftless/helm-controller/internal/release"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/tracker"
)

// Drift of a release's objects from what Helm applied, as Flux detects it (a server-side
// dry-run apply of the release's manifest compared with the cluster) but noticed from the
// watch: the shared tracker keeps the release's objects, labelled with its owner labels, and
// reports one deleted or taken over by another writer, and the release is reconciled at once
// rather than at its next interval. A reconcile where no object was written since the last
// check makes no dry-run at all.

// DriftOptOutAnnotation, 'disabled' on an object, leaves it out of drift detection.
const DriftOptOutAnnotation = "helm.toolkit.fluxcd.io/driftDetection"

// driftDetected counts the drift the checks found, by HelmRelease and mode (corrected or
// warned about).
var driftDetected = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "driftless_helm_drift_detected_total",
	Help: "Objects of Helm releases found drifted from their manifest, by HelmRelease and mode (enabled: corrected, warn: reported).",
}, []string{"name", "namespace", "mode"})

// driftMemo is what the last check without drift saw: the release revision it checked and the
// fingerprint of each object (by inventory id), so that the next check with the same
// fingerprints needs no dry-run.
type driftMemo struct {
	version      int
	fingerprints map[string]string
}

// driftMode is spec.driftDetection.mode: 'enabled', 'warn' or 'disabled' (the default).
func driftMode(obj *v2.HelmRelease) string {
	if d := obj.Spec.DriftDetection; d != nil && d.Mode != "" {
		return d.Mode
	}
	return "disabled"
}

// track asks the tracker to watch the kinds of objects.
func (r *HelmReleaseReconciler) track(objects []*unstructured.Unstructured) {
	if r.tracker == nil {
		return
	}
	seen := map[schema.GroupVersionKind]bool{}
	var gvks []schema.GroupVersionKind
	for _, o := range objects {
		if gvk := o.GroupVersionKind(); !seen[gvk] {
			seen[gvk] = true
			gvks = append(gvks, gvk)
		}
	}
	_ = r.tracker.Track(gvks...) // a kind that cannot be watched is still checked at each interval
}

// drifted wakes the release whose object drifted, when it detects drift and the object is one
// of its release.
func (r *HelmReleaseReconciler) drifted(d tracker.Drift) {
	hr := &v2.HelmRelease{}
	if err := r.Get(context.Background(), d.Owner, hr); err != nil || hr.Spec.Suspend || driftMode(hr) == "disabled" || hr.Status.Inventory == nil {
		return
	}
	id := inventoryID(d.Object.Namespace, d.Object.Name, d.GVK.GroupKind())
	for _, e := range hr.Status.Inventory.Entries {
		if e.ID == id {
			r.wake.Add(d.Owner)
			return
		}
	}
}

// reconcileDrift compares the release's objects with its manifest when drift detection is on:
// with mode 'enabled' what drifted is applied again, with 'warn' it is reported.
// Sets: Drifted.
func (r *HelmReleaseReconciler) reconcileDrift(ctx context.Context, s *releaseScope, rel *releasev1.Release) error {
	obj := s.Object
	mode := driftMode(obj)
	key := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}
	if mode == "disabled" {
		conditions.Delete(obj, v2.DriftedCondition)
		r.memos.Delete(key)
		return nil
	}
	objects := s.objects
	if objects == nil {
		var err error
		if objects, err = action.Objects(rel, r.RESTMapper(), installCRDs(obj) == action.SkipCRDs); err != nil {
			return lifecycle.Failed("", v2.DriftDetectedReason, err)
		}
		r.track(objects)
	}
	fingerprints, known := r.fingerprints(objects)
	if v, ok := r.memos.Load(key); ok && known {
		if m := v.(driftMemo); m.version == rel.Version && maps.Equal(m.fingerprints, fingerprints) {
			return nil // nobody wrote to the objects since the last check
		}
	}
	c, err := r.tenantClient(s)
	if err != nil {
		return lifecycle.Failed("", v2.DriftDetectedReason, err)
	}
	rm := ssa.NewResourceManager(c, nil, ssa.Owner{Field: action.FieldManager, Group: v2.GroupVersion.Group})
	rules := ignoreRules(obj)
	opts := ssa.DiffOptions{Exclusions: map[string]string{DriftOptOutAnnotation: "disabled"}, DriftIgnoreRules: rules}
	var drifted []*unstructured.Unstructured
	var lines []string
	var errs []error
	for _, o := range objects {
		entry, _, _, err := rm.Diff(ctx, o.DeepCopy(), opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch entry.Action {
		case ssa.CreatedAction:
			lines = append(lines, entry.Subject+" removed")
		case ssa.ConfiguredAction:
			lines = append(lines, entry.Subject+" changed")
		default:
			continue
		}
		drifted = append(drifted, o)
	}
	target := fmt.Sprintf("release %s/%s.v%d", rel.Namespace, rel.Name, rel.Version)
	if len(errs) > 0 {
		return lifecycle.Failed("", v2.DriftDetectedReason, fmt.Errorf("detecting drift of %s: %w", target, errors.Join(errs...)))
	}
	if len(drifted) == 0 {
		conditions.MarkFalse(obj, v2.DriftedCondition, v2.NoDriftDetectedReason, "No drift detected for %s", target)
		if known {
			r.memos.Store(key, driftMemo{version: rel.Version, fingerprints: fingerprints})
		}
		return nil
	}
	r.memos.Delete(key)
	driftDetected.WithLabelValues(obj.Name, obj.Namespace, mode).Add(float64(len(drifted)))
	summary := strings.Join(lines, ", ")
	drift := fmt.Sprintf("Cluster state of %s has drifted from the desired state: %s", target, summary)
	if mode != "enabled" {
		conditions.MarkTrue(obj, v2.DriftedCondition, v2.DriftDetectedReason, "%s", drift)
		s.Announce(v2.DriftDetectedReason, "%s", drift)
		return nil
	}
	if _, err := rm.ApplyAll(ctx, drifted, ssa.ApplyOptions{DriftIgnoreRules: rules, ExclusionSelector: opts.Exclusions}); err != nil {
		conditions.MarkTrue(obj, v2.DriftedCondition, v2.DriftDetectedReason, "%s", drift)
		return lifecycle.Failed("", v2.DriftDetectedReason, fmt.Errorf("correcting the drift of %s (%s): %w", target, summary, err))
	}
	conditions.MarkFalse(obj, v2.DriftedCondition, v2.NoDriftDetectedReason, "Cluster state of %s was corrected: %s", target, summary)
	s.Announce(v2.DriftDetectedReason, "Cluster state of %s has been corrected: %s", target, summary)
	return nil
}

// fingerprints are the tracker's fingerprints of the objects, by inventory id; known is false
// when the tracker does not know one of them yet.
func (r *HelmReleaseReconciler) fingerprints(objects []*unstructured.Unstructured) (map[string]string, bool) {
	if r.tracker == nil {
		return nil, false
	}
	out := make(map[string]string, len(objects))
	for _, o := range objects {
		gvk := o.GroupVersionKind()
		live, known := r.tracker.Get(gvk, types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()})
		if !known {
			return nil, false
		}
		id := inventoryID(o.GetNamespace(), o.GetName(), gvk.GroupKind())
		out[id] = "absent"
		if live != nil {
			out[id] = tracker.Fingerprint(live)
		}
	}
	return out, true
}

// ignoreRules are spec.driftDetection.ignore as the ssa engine takes them.
func ignoreRules(obj *v2.HelmRelease) []jsondiff.IgnoreRule {
	if obj.Spec.DriftDetection == nil {
		return nil
	}
	var out []jsondiff.IgnoreRule
	for _, rule := range obj.Spec.DriftDetection.Ignore {
		r := jsondiff.IgnoreRule{Paths: rule.Paths}
		if t := rule.Target; t != nil {
			r.Selector = &jsondiff.Selector{Group: t.Group, Version: t.Version, Kind: t.Kind, Name: t.Name, Namespace: t.Namespace,
				AnnotationSelector: t.AnnotationSelector, LabelSelector: t.LabelSelector}
		}
		out = append(out, r)
	}
	return out
}

// tenantClient reads and writes for the release without a cache (drift detection and
// correction): one impersonating the tenant's account, made once per reconcile, or the
// controller's own without an account, made once.
func (r *HelmReleaseReconciler) tenantClient(s *releaseScope) (client.Client, error) {
	if s.client != nil {
		return s.client, nil
	}
	obj := s.Object
	var err error
	if obj.Spec.ServiceAccountName == "" && r.DefaultServiceAccount == "" {
		r.directOnce.Do(func() {
			r.direct, r.directErr = client.New(r.Config, client.Options{Scheme: r.Scheme(), Mapper: r.RESTMapper()})
		})
		s.client, err = r.direct, r.directErr
	} else {
		s.client, err = client.New(r.tenantConfig(obj), client.Options{Scheme: r.Scheme(), Mapper: r.RESTMapper()})
	}
	return s.client, err
}

// releaseReadiness is the shared watch as one release's waits see it (action.Readiness).
type releaseReadiness struct {
	r     *HelmReleaseReconciler
	owner types.NamespacedName
}

// Track implements action.Readiness.
func (rd releaseReadiness) Track(gvks ...schema.GroupVersionKind) error {
	if err := rd.r.tracker.Track(gvks...); err != nil {
		return err
	}
	rd.r.tracker.WaitForSync(context.Background(), 30*time.Second, gvks...)
	return nil
}

// Get implements action.Readiness: a kind kept as metadata only is returned as its metadata.
func (rd releaseReadiness) Get(gvk schema.GroupVersionKind, key types.NamespacedName) (*unstructured.Unstructured, bool) {
	obj, known := rd.r.tracker.Get(gvk, key)
	if !known || obj == nil {
		return nil, known
	}
	// Only what this release applied, as its account, is read from the shared watch.
	if l := obj.GetLabels(); l[release.NameLabel] != rd.owner.Name || l[release.NamespaceLabel] != rd.owner.Namespace {
		return nil, false
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, true
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(obj.GetNamespace())
	u.SetName(obj.GetName())
	return u, true
}

// Changes implements action.Readiness: the tracker reports the changes of the release's
// objects while the wait lasts.
func (rd releaseReadiness) Changes() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	rd.r.waitMu.Lock()
	if rd.r.waiting == nil {
		rd.r.waiting = map[types.NamespacedName]map[chan struct{}]bool{}
	}
	if rd.r.waiting[rd.owner] == nil {
		rd.r.waiting[rd.owner] = map[chan struct{}]bool{}
	}
	rd.r.waiting[rd.owner][ch] = true
	rd.r.waitMu.Unlock()
	rd.r.tracker.Interest(rd.owner, true)
	return ch, func() {
		rd.r.waitMu.Lock()
		delete(rd.r.waiting[rd.owner], ch)
		last := len(rd.r.waiting[rd.owner]) == 0
		if last {
			delete(rd.r.waiting, rd.owner)
		}
		rd.r.waitMu.Unlock()
		if last {
			rd.r.tracker.Interest(rd.owner, false)
		}
	}
}

// changed wakes the waits of the owner whose object changed; it never blocks.
func (r *HelmReleaseReconciler) changed(owner types.NamespacedName) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	for ch := range r.waiting[owner] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
