package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/postrenderer"
	ri "helm.sh/helm/v4/pkg/release"
	releasecommon "helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/client-go/rest"
)

// ErrNotFound: the release has no revision in storage.
var ErrNotFound = errors.New("release not found")

// MaxChartBytes bounds a chart archive loaded for an action.
const MaxChartBytes = 100 << 20

// Runner runs Helm actions for releases stored in one namespace.
type Runner struct {
	cfg *action.Configuration
}

// NewRunner returns a Runner that reaches the cluster with config (the tenant's impersonated
// one), keeps releases as Secrets in storageNamespace and installs into targetNamespace by
// default. log receives Helm's own messages (never values).
func NewRunner(config *rest.Config, storageNamespace, targetNamespace string, log *slog.Logger) (*Runner, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(log.Handler()))
	if err := cfg.Init(NewGetter(config, targetNamespace), storageNamespace, "secret"); err != nil {
		return nil, fmt.Errorf("initialising Helm: %w", err)
	}
	return &Runner{cfg: cfg}, nil
}

// LoadChart reads a chart archive (at most MaxChartBytes).
func LoadChart(r io.Reader) (*chartv2.Chart, error) {
	return loader.LoadArchive(io.LimitReader(r, MaxChartBytes))
}

// Options are those of install and upgrade that a HelmRelease sets.
type Options struct {
	ReleaseName, Namespace string
	Timeout                time.Duration
	// Wait for the objects to be ready (kstatus); hooks only when false.
	Wait, WaitForJobs bool
	DisableHooks      bool
	CreateNamespace   bool
	SkipCRDs          bool
	Replace, Force    bool
	// ServerSideApply: true applies with server-side apply.
	ServerSideApply          bool
	DisableOpenAPIValidation bool
	SkipSchemaValidation     bool
	TakeOwnership            bool
	CleanupOnFail            bool
	// PreserveValues reuses the last release's values under the new ones; without it they
	// are reset, even when the new values are empty (Helm's CLI would reuse them then).
	PreserveValues bool
	MaxHistory     int
	Description    string
	// PostRenderer runs over the rendered manifests (hooks included).
	PostRenderer postrenderer.PostRenderer
}

func (o Options) waitStrategy() kube.WaitStrategy {
	if o.Wait {
		return kube.StatusWatcherStrategy
	}
	return kube.HookOnlyStrategy
}

// Install installs the chart as a new release.
func (r *Runner) Install(ctx context.Context, chart *chartv2.Chart, values map[string]any, o Options) (*releasev1.Release, error) {
	a := action.NewInstall(r.cfg)
	a.ReleaseName, a.Namespace, a.Timeout = o.ReleaseName, o.Namespace, o.Timeout
	a.WaitStrategy, a.WaitForJobs, a.DisableHooks = o.waitStrategy(), o.WaitForJobs, o.DisableHooks
	a.CreateNamespace, a.SkipCRDs, a.Replace = o.CreateNamespace, o.SkipCRDs, o.Replace
	a.ServerSideApply, a.ForceConflicts = o.ServerSideApply, o.ServerSideApply
	a.DisableOpenAPIValidation, a.SkipSchemaValidation, a.TakeOwnership = o.DisableOpenAPIValidation, o.SkipSchemaValidation, o.TakeOwnership
	a.Description, a.PostRenderer = o.Description, o.PostRenderer
	rel, err := a.RunWithContext(ctx, chart, values)
	return asRelease(rel, err)
}

// Upgrade upgrades the release to the chart with values (replacing the last ones).
func (r *Runner) Upgrade(ctx context.Context, chart *chartv2.Chart, values map[string]any, o Options) (*releasev1.Release, error) {
	a := action.NewUpgrade(r.cfg)
	a.Namespace, a.Timeout = o.Namespace, o.Timeout
	a.WaitStrategy, a.WaitForJobs, a.DisableHooks = o.waitStrategy(), o.WaitForJobs, o.DisableHooks
	a.SkipCRDs, a.ForceReplace, a.CleanupOnFail, a.MaxHistory = o.SkipCRDs, o.Force, o.CleanupOnFail, o.MaxHistory
	a.ServerSideApply, a.ForceConflicts = "false", false
	if o.ServerSideApply {
		a.ServerSideApply, a.ForceConflicts = "true", true
	}
	a.DisableOpenAPIValidation, a.SkipSchemaValidation, a.TakeOwnership = o.DisableOpenAPIValidation, o.SkipSchemaValidation, o.TakeOwnership
	a.ResetValues, a.ReuseValues = !o.PreserveValues, o.PreserveValues
	a.Description, a.PostRenderer = o.Description, o.PostRenderer
	rel, err := a.RunWithContext(ctx, o.ReleaseName, chart, values)
	return asRelease(rel, err)
}

// Uninstall removes the release and its objects; keepHistory keeps its Secrets.
func (r *Runner) Uninstall(name string, timeout time.Duration, disableHooks, keepHistory bool) error {
	a := action.NewUninstall(r.cfg)
	a.Timeout, a.DisableHooks, a.KeepHistory = timeout, disableHooks, keepHistory
	a.WaitStrategy = kube.HookOnlyStrategy
	_, err := a.Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return err
}

// Last is the release's newest revision, whatever its status.
func (r *Runner) Last(name string) (*releasev1.Release, error) {
	rel, err := r.cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return asRelease(rel, err)
}

// History is every stored revision of the release, oldest first.
func (r *Runner) History(name string) ([]*releasev1.Release, error) {
	all, err := r.cfg.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]*releasev1.Release, 0, len(all))
	for _, rel := range all {
		v, err := asRelease(rel, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// asRelease returns the v1 release of an action's result (Helm returns what it stored even
// when the action failed, so both can be set).
func asRelease(rel ri.Releaser, err error) (*releasev1.Release, error) {
	if rel == nil {
		return nil, err
	}
	v, ok := rel.(*releasev1.Release)
	if !ok {
		return nil, errors.Join(err, fmt.Errorf("release of type %T is not a Helm v1 release", rel))
	}
	return v, err
}

// Rollback rolls the release back to version (the previous one when 0).
func (r *Runner) Rollback(name string, version int, o Options) error {
	a := action.NewRollback(r.cfg)
	a.Version, a.Timeout = version, o.Timeout
	a.WaitStrategy, a.WaitForJobs, a.DisableHooks = o.waitStrategy(), o.WaitForJobs, o.DisableHooks
	a.ForceReplace, a.CleanupOnFail, a.MaxHistory = o.Force, o.CleanupOnFail, o.MaxHistory
	a.ServerSideApply, a.ForceConflicts = "false", false
	if o.ServerSideApply {
		a.ServerSideApply, a.ForceConflicts = "true", true
	}
	a.Description = o.Description
	return a.Run(name)
}

// Deployed is the release's deployed revision, ErrNotFound when none is.
func (r *Runner) Deployed(name string) (*releasev1.Release, error) {
	rel, err := r.cfg.Releases.Deployed(name)
	if errors.Is(err, driver.ErrReleaseNotFound) || errors.Is(err, driver.ErrNoDeployedReleases) {
		return nil, fmt.Errorf("%w: no deployed revision of %s", ErrNotFound, name)
	}
	return asRelease(rel, err)
}

// Unlock marks a release left 'pending-*' (its controller stopped mid-action) as failed, so
// that the next action may proceed.
func (r *Runner) Unlock(rel *releasev1.Release) error {
	rel.SetStatus(releasecommon.StatusFailed, fmt.Sprintf("release unlocked from stale '%s' state", rel.Info.Status))
	return r.cfg.Releases.Update(rel)
}
