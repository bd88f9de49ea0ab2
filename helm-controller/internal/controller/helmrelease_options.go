package controller

import (
	"time"

	v2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/helm-controller/internal/action"
	"github.com/driftless-dev/driftless/helm-controller/internal/postrender"
	"github.com/driftless-dev/driftless/helm-controller/internal/release"
	"github.com/driftless-dev/driftless/helm-controller/internal/values"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// The options of each Helm action, from the HelmRelease's spec with Flux's defaults: wait for
// readiness (kstatus) and for Jobs, server-side apply, take ownership of existing objects,
// CRDs created on install and left alone on upgrade.

// durationOr is d, or def when d is unset or zero.
func durationOr(d *meta.Duration, def time.Duration) time.Duration {
	if d != nil && d.Duration > 0 {
		return d.Duration
	}
	return def
}

// baseOptions are what every install, upgrade and rollback of the release shares.
func baseOptions(obj *v2.HelmRelease, name string) action.Options {
	maxHistory := 5
	if obj.Spec.MaxHistory != nil {
		maxHistory = *obj.Spec.MaxHistory
	}
	o := action.Options{
		ReleaseName: name, Namespace: release.TargetNamespace(obj), Timeout: releaseTimeout(obj),
		Wait: true, WaitForJobs: true, TakeOwnership: true, ServerSideApply: "true",
		MaxHistory: maxHistory, Description: "driftless",
		PostRenderer: postRenderer(obj), PostRenderStrategy: obj.Spec.PostRenderStrategy,
	}
	o.LegacyWait = obj.Spec.WaitStrategy != nil && obj.Spec.WaitStrategy.Name == "legacy"
	return o
}

// installOptions are the options of an install.
func installOptions(obj *v2.HelmRelease, name string) action.Options {
	o := baseOptions(obj, name)
	o.CRDs = installCRDs(obj)
	in := obj.Spec.Install
	if in == nil {
		return o
	}
	o.Timeout = durationOr(in.Timeout, o.Timeout)
	o.Wait, o.WaitForJobs, o.DisableHooks = !in.DisableWait, !in.DisableWaitForJobs, in.DisableHooks
	o.DisableOpenAPIValidation, o.SkipSchemaValidation = in.DisableOpenAPIValidation, in.DisableSchemaValidation
	o.Replace, o.CreateNamespace, o.TakeOwnership = in.Replace, in.CreateNamespace, !in.DisableTakeOwnership
	if in.ServerSideApply != nil && !*in.ServerSideApply {
		o.ServerSideApply = "false"
	}
	return o
}

// installCRDs is install.crds: Create by default, Skip with the deprecated skipCRDs.
func installCRDs(obj *v2.HelmRelease) action.CRDsPolicy {
	switch in := obj.Spec.Install; {
	case in == nil:
	case in.CRDs != "":
		return action.CRDsPolicy(in.CRDs)
	case in.SkipCRDs:
		return action.SkipCRDs
	}
	return action.CreateCRDs
}

// upgradeOptions are the options of an upgrade.
func upgradeOptions(obj *v2.HelmRelease, name string) action.Options {
	o := baseOptions(obj, name)
	o.CRDs, o.ServerSideApply = action.SkipCRDs, "auto"
	up := obj.Spec.Upgrade
	if up == nil {
		return o
	}
	o.Timeout = durationOr(up.Timeout, o.Timeout)
	o.Wait, o.WaitForJobs, o.DisableHooks = !up.DisableWait, !up.DisableWaitForJobs, up.DisableHooks
	o.DisableOpenAPIValidation, o.SkipSchemaValidation = up.DisableOpenAPIValidation, up.DisableSchemaValidation
	o.Force, o.PreserveValues, o.CleanupOnFail, o.TakeOwnership = up.Force, up.PreserveValues, up.CleanupOnFail, !up.DisableTakeOwnership
	if up.CRDs != "" {
		o.CRDs = action.CRDsPolicy(up.CRDs)
	}
	o.ServerSideApply = serverSideApply(up.ServerSideApply)
	return o
}

// rollbackOptions are the options of a rollback (an upgrade's remediation).
func rollbackOptions(obj *v2.HelmRelease, name string) action.Options {
	o := baseOptions(obj, name)
	o.ServerSideApply = "auto"
	rb := obj.Spec.Rollback
	if rb == nil {
		return o
	}
	o.Timeout = durationOr(rb.Timeout, o.Timeout)
	o.Wait, o.WaitForJobs, o.DisableHooks = !rb.DisableWait, !rb.DisableWaitForJobs, rb.DisableHooks
	o.Force, o.CleanupOnFail = rb.Force || rb.Recreate, rb.CleanupOnFail
	o.ServerSideApply = serverSideApply(rb.ServerSideApply)
	return o
}

// uninstallOptions are the options of an uninstall (on deletion, or as remediation).
func uninstallOptions(obj *v2.HelmRelease) action.UninstallOptions {
	o := action.UninstallOptions{Timeout: releaseTimeout(obj), Wait: true}
	if u := obj.Spec.Uninstall; u != nil {
		o.Timeout = durationOr(u.Timeout, o.Timeout)
		o.DisableHooks, o.KeepHistory, o.Wait = u.DisableHooks, u.KeepHistory, !u.DisableWait
		if u.DeletionPropagation != nil {
			o.DeletionPropagation = *u.DeletionPropagation
		}
	}
	return o
}

// serverSideApply maps 'enabled', 'disabled' and 'auto' (the default) to Helm's values.
func serverSideApply(v string) string {
	switch v {
	case "enabled":
		return "true"
	case "disabled":
		return "false"
	}
	return "auto"
}

// postRenderer is spec.postRenderers in order, then the built-in one: every object carries its
// owner's labels, over spec.commonMetadata, as in Flux.
func postRenderer(obj *v2.HelmRelease) postrender.Chain {
	var chain postrender.Chain
	for _, pr := range obj.Spec.PostRenderers {
		if k := pr.Kustomize; k != nil && (len(k.Patches) > 0 || len(k.Images) > 0) {
			chain = append(chain, postrender.Kustomize{Patches: k.Patches, Images: k.Images})
		}
	}
	md := postrender.Metadata{Labels: map[string]string{}}
	if cm := obj.Spec.CommonMetadata; cm != nil {
		for k, v := range cm.Labels {
			md.Labels[k] = v
		}
		md.Annotations = cm.Annotations
	}
	md.Labels[release.NameLabel], md.Labels[release.NamespaceLabel] = obj.Name, obj.Namespace
	return append(chain, md)
}

// postRenderersDigest identifies spec.postRenderers (empty when there are none), so that a
// change of them upgrades the release.
func postRenderersDigest(obj *v2.HelmRelease) string {
	if len(obj.Spec.PostRenderers) == 0 {
		return ""
	}
	return values.Digest(map[string]any{"postRenderers": obj.Spec.PostRenderers})
}

// testPolicy says whether the release's tests run, and whether their failure is ignored after
// the given action (install or upgrade).
func testPolicy(obj *v2.HelmRelease, install bool) (enabled, ignoreFailures bool) {
	t := obj.Spec.Test
	if t == nil || !t.Enable {
		return false, false
	}
	ignore := t.IgnoreFailures
	if install && obj.Spec.Install != nil && obj.Spec.Install.Remediation != nil && obj.Spec.Install.Remediation.IgnoreTestFailures != nil {
		ignore = *obj.Spec.Install.Remediation.IgnoreTestFailures
	}
	if !install && obj.Spec.Upgrade != nil && obj.Spec.Upgrade.Remediation != nil && obj.Spec.Upgrade.Remediation.IgnoreTestFailures != nil {
		ignore = *obj.Spec.Upgrade.Remediation.IgnoreTestFailures
	}
	return true, ignore
}

// testFilters are the test names to run and to skip.
func testFilters(obj *v2.HelmRelease) (run, skip []string) {
	if obj.Spec.Test == nil || obj.Spec.Test.Filters == nil {
		return nil, nil
	}
	for _, f := range *obj.Spec.Test.Filters {
		if f.Exclude {
			skip = append(skip, f.Name)
		} else {
			run = append(run, f.Name)
		}
	}
	return run, skip
}
