package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/kubectl/pkg/validation"

	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
)

// ErrNotFound: the release has no revision in storage.
var ErrNotFound = errors.New("release not found")

// FieldManager is the field manager of every object a release applies, as in Flux: drift
// detection reads its managedFields entries.
const FieldManager = "helm-controller"

func init() { kube.ManagedFieldsManager = FieldManager }

// MaxChartBytes bounds a chart archive loaded for an action.
const MaxChartBytes = 100 << 20

// Runner runs Helm actions for releases stored in one namespace.
type Runner struct {
	cfg    *action.Configuration
	getter *Getter
}

// NewRunner returns a Runner that reaches the cluster with config (the tenant's impersonated
// one), keeps releases as Secrets in storageNamespace and installs into targetNamespace by
// default. log receives Helm's own messages (never values).
func NewRunner(config *rest.Config, storageNamespace, targetNamespace string, log *slog.Logger) (*Runner, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(log.Handler()))
	getter := NewGetter(config, targetNamespace)
	if err := cfg.Init(getter, storageNamespace, "secret"); err != nil {
		return nil, fmt.Errorf("initialising Helm: %w", err)
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Factory = serverValidated{kc.Factory}
	}
	return &Runner{cfg: cfg, getter: getter}, nil
}

// serverValidated is Helm's factory without its client-side schema check. That check only asks
// whether the API server validates fields itself (every server since Kubernetes 1.27 does, and
// then the check validates nothing), and to answer it downloads and parses the server's
// OpenAPI document of each group the manifest uses, on every action: half of the CPU time of
// an install. The objects are applied with server-side apply, which the server checks
// against its schema.
type serverValidated struct{ kube.Factory }

// Validator implements kube.Factory.
func (serverValidated) Validator(string) (validation.Schema, error) {
	return validation.NullSchema{}, nil
}

// SetReadiness makes the kstatus waits of the runner's actions read readiness from rd, with
// checks (healthCheckExprs) in place of kstatus for the kinds they name.
func (r *Runner) SetReadiness(rd Readiness, checks []kustomize.CustomHealthCheck) {
	if kc, ok := r.cfg.KubeClient.(*kube.Client); ok && rd != nil {
		r.cfg.KubeClient = kubeClient{Client: kc, readiness: rd, checks: checks}
	}
}

// LoadChart reads a chart archive (at most MaxChartBytes).
func LoadChart(r io.Reader) (*chartv2.Chart, error) {
	return loader.LoadArchive(io.LimitReader(r, MaxChartBytes))
}

// Options are those of install, upgrade and rollback that a HelmRelease sets.
type Options struct {
	ReleaseName, Namespace string
	Timeout                time.Duration
	// Wait for the objects to be ready; hooks only when false.
	Wait, WaitForJobs bool
	// LegacyWait waits as Helm 3 did (polling) instead of with kstatus watches.
	LegacyWait      bool
	DisableHooks    bool
	CreateNamespace bool
	// CRDs is the policy for the chart's crds/ directory.
	CRDs           CRDsPolicy
	Replace, Force bool
	// ServerSideApply is "true", "false" or "auto" (the method of the release's last revision;
	// server-side for an install).
	ServerSideApply          string
	DisableOpenAPIValidation bool
	SkipSchemaValidation     bool
	TakeOwnership            bool
	CleanupOnFail            bool
	// PreserveValues reuses the last release's values under the new ones; without it they
	// are reset, even when the new values are empty (Helm's CLI would reuse them then).
	PreserveValues bool
	MaxHistory     int
	Description    string
	// PostRenderer runs over the rendered manifests; PostRenderStrategy says whether over the
	// hooks too ("combined", the default), separately ("separate") or not ("nohooks").
	PostRenderer       postrenderer.PostRenderer
	PostRenderStrategy string
}

// CRDsPolicy says what an action does with the chart's CRDs: "Skip" them, "Create" the absent
// ones, or "CreateReplace" (create the absent, update the present).
type CRDsPolicy string

// The CRD policies of install.crds and upgrade.crds.
const (
	SkipCRDs          CRDsPolicy = "Skip"
	CreateCRDs        CRDsPolicy = "Create"
	CreateReplaceCRDs CRDsPolicy = "CreateReplace"
)

func (o Options) waitStrategy() kube.WaitStrategy {
	switch {
	case !o.Wait:
		return kube.HookOnlyStrategy
	case o.LegacyWait:
		return kube.LegacyStrategy
	}
	return kube.StatusWatcherStrategy
}

// serverSide reports whether objects are applied server-side (and conflicts forced): unless
// "false".
func (o Options) serverSide() bool { return o.ServerSideApply != "false" }

// Install installs the chart as a new release. The chart's CRDs go first, per o.CRDs.
func (r *Runner) Install(ctx context.Context, chart *chartv2.Chart, values map[string]any, o Options) (*releasev1.Release, error) {
	a := action.NewInstall(r.cfg)
	a.ReleaseName, a.Namespace, a.Timeout = o.ReleaseName, o.Namespace, o.Timeout
	a.WaitStrategy, a.WaitForJobs, a.DisableHooks = o.waitStrategy(), o.WaitForJobs, o.DisableHooks
	a.CreateNamespace, a.Replace = o.CreateNamespace, o.Replace
	a.ServerSideApply, a.ForceConflicts = o.serverSide(), o.serverSide()
	a.DisableOpenAPIValidation, a.SkipSchemaValidation, a.TakeOwnership = o.DisableOpenAPIValidation, o.SkipSchemaValidation, o.TakeOwnership
	a.Description, a.PostRenderer, a.PostRenderStrategy = o.Description, o.PostRenderer, action.PostRenderStrategy(o.PostRenderStrategy)
	// Helm's install creates the absent CRDs itself (Create); the other policies are ours.
	a.SkipCRDs = o.CRDs == SkipCRDs || o.CRDs == CreateReplaceCRDs
	if o.CRDs == CreateReplaceCRDs {
		if err := r.applyCRDs(chart, o.CRDs, o.serverSide()); err != nil {
			return nil, err
		}
	}
	rel, err := a.RunWithContext(ctx, chart, values)
	return asRelease(rel, err)
}

// Upgrade upgrades the release to the chart with values (replacing the last ones). Helm's
// upgrade never touches CRDs: those of the chart are applied first, per o.CRDs.
func (r *Runner) Upgrade(ctx context.Context, chart *chartv2.Chart, values map[string]any, o Options) (*releasev1.Release, error) {
	a := action.NewUpgrade(r.cfg)
	a.Namespace, a.Timeout = o.Namespace, o.Timeout
	a.WaitStrategy, a.WaitForJobs, a.DisableHooks = o.waitStrategy(), o.WaitForJobs, o.DisableHooks
	a.SkipCRDs, a.ForceReplace, a.CleanupOnFail, a.MaxHistory = true, o.Force, o.CleanupOnFail, o.MaxHistory
	a.ServerSideApply, a.ForceConflicts = o.helmServerSide(), o.serverSide()
	a.DisableOpenAPIValidation, a.SkipSchemaValidation, a.TakeOwnership = o.DisableOpenAPIValidation, o.SkipSchemaValidation, o.TakeOwnership
	a.ResetValues, a.ReuseValues = !o.PreserveValues, o.PreserveValues
	a.Description, a.PostRenderer, a.PostRenderStrategy = o.Description, o.PostRenderer, action.PostRenderStrategy(o.PostRenderStrategy)
	if o.CRDs == CreateCRDs || o.CRDs == CreateReplaceCRDs {
		if err := r.applyCRDs(chart, o.CRDs, o.serverSide()); err != nil {
			return nil, err
		}
	}
	rel, err := a.RunWithContext(ctx, o.ReleaseName, chart, values)
	return asRelease(rel, err)
}

// helmServerSide is Helm's value of ServerSideApply for upgrade and rollback.
func (o Options) helmServerSide() string {
	switch o.ServerSideApply {
	case "true", "false":
		return o.ServerSideApply
	}
	return "auto"
}

// applyCRDs creates the chart's CRDs that do not exist yet, and with CreateReplace updates those
// that do; then waits for them to be established and forgets the cluster's kinds, so that the
// chart's custom resources are found.
func (r *Runner) applyCRDs(chart *chartv2.Chart, policy CRDsPolicy, serverSide bool) error {
	var applied kube.ResourceList
	for _, crd := range chart.CRDObjects() {
		if crd.File == nil || len(crd.File.Data) == 0 {
			return fmt.Errorf("CRD %s: the file is empty", crd.Name)
		}
		res, err := r.cfg.KubeClient.Build(bytes.NewReader(crd.File.Data), false)
		if err != nil {
			return fmt.Errorf("CRD %s: %w", crd.Name, err)
		}
		for _, info := range res {
			live := *info // Get fills in the live object; info keeps the chart's
			err := live.Get()
			switch {
			case apierrors.IsNotFound(err):
				if _, err := r.cfg.KubeClient.Create(kube.ResourceList{info}, kube.ClientCreateOptionServerSideApply(serverSide, serverSide)); err != nil {
					return fmt.Errorf("creating CRD %s: %w", info.Name, err)
				}
			case err != nil:
				return fmt.Errorf("reading CRD %s: %w", info.Name, err)
			case policy == CreateReplaceCRDs:
				if _, err := r.cfg.KubeClient.Update(kube.ResourceList{info}, kube.ResourceList{info},
					kube.ClientUpdateOptionServerSideApply(serverSide, serverSide), kube.ClientUpdateOptionThreeWayMergeForUnstructured(!serverSide)); err != nil {
					return fmt.Errorf("updating CRD %s: %w", info.Name, err)
				}
			default:
				continue
			}
			applied = append(applied, info)
		}
	}
	if len(applied) == 0 {
		return nil
	}
	waiter, err := r.cfg.KubeClient.GetWaiter(kube.StatusWatcherStrategy)
	if err != nil {
		return err
	}
	if err := waiter.Wait(applied, time.Minute); err != nil {
		return fmt.Errorf("waiting for the chart's CRDs to be established: %w", err)
	}
	r.getter.Reset()
	return nil
}

// UninstallOptions are those of uninstall.
type UninstallOptions struct {
	Timeout                   time.Duration
	DisableHooks, KeepHistory bool
	// Wait for the objects to be gone.
	Wait bool
	// DeletionPropagation is "background" (when empty), "foreground" or "orphan".
	DeletionPropagation string
}

// Uninstall removes the release and its objects; KeepHistory keeps its Secrets.
func (r *Runner) Uninstall(name string, o UninstallOptions) error {
	a := action.NewUninstall(r.cfg)
	a.Timeout, a.DisableHooks, a.KeepHistory = o.Timeout, o.DisableHooks, o.KeepHistory
	a.WaitStrategy, a.DeletionPropagation = kube.HookOnlyStrategy, o.DeletionPropagation
	if o.Wait {
		a.WaitStrategy = kube.StatusWatcherStrategy
	}
	if a.DeletionPropagation == "" {
		a.DeletionPropagation = "background"
	}
	_, err := a.Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return err
}

// Test runs the release's test hooks (those filters select: names to run, or with exclude,
// names to skip) and returns the release with their outcome recorded. The test pods are
// removed as their hook-delete-policy says.
func (r *Runner) Test(name string, timeout time.Duration, run, skip []string) (*releasev1.Release, error) {
	a := action.NewReleaseTesting(r.cfg)
	a.Timeout, a.Filters = timeout, map[string][]string{}
	if len(run) > 0 {
		a.Filters[action.IncludeNameFilter] = run
	}
	if len(skip) > 0 {
		a.Filters[action.ExcludeNameFilter] = skip
	}
	rel, shutdown, err := a.Run(name)
	if shutdown != nil {
		err = errors.Join(err, shutdown())
	}
	return asRelease(rel, err)
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

// Rollback rolls the release back to version (the previous one when 0); Options' Wait,
// WaitForJobs, DisableHooks, Force, CleanupOnFail, ServerSideApply, MaxHistory and Timeout apply.
func (r *Runner) Rollback(name string, version int, o Options) error {
	a := action.NewRollback(r.cfg)
	a.Version, a.Timeout = version, o.Timeout
	a.WaitStrategy, a.WaitForJobs, a.DisableHooks = o.waitStrategy(), o.WaitForJobs, o.DisableHooks
	a.ForceReplace, a.CleanupOnFail, a.MaxHistory = o.Force, o.CleanupOnFail, o.MaxHistory
	a.ServerSideApply, a.ForceConflicts = o.helmServerSide(), o.serverSide()
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

// Objects are the objects of the release's manifest (hooks excluded), as Helm applied them
// (with the release's ownership label and annotations, which Helm adds as it applies), and
// those of the chart's CRDs unless skipCRDs; a namespaced object that names no namespace is in
// the release's. mapper tells the kinds' scope.
func Objects(rel *releasev1.Release, mapper apimeta.RESTMapper, skipCRDs bool) ([]*unstructured.Unstructured, error) {
	docs := []string{rel.Manifest}
	if !skipCRDs && rel.Chart != nil {
		for _, crd := range rel.Chart.CRDObjects() {
			if crd.File != nil {
				docs = append(docs, string(crd.File.Data))
			}
		}
	}
	var out []*unstructured.Unstructured
	for i, doc := range docs {
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(doc), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("reading the objects of release '%s': %w", rel.Name, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			gvk := u.GroupVersionKind()
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				return nil, fmt.Errorf("release '%s': %s/%s: %w", rel.Name, gvk.Kind, u.GetName(), err)
			}
			if i == 0 {
				setOwnership(u, rel) // not on the CRDs of crds/, which Helm creates as they are
			}
			if m.Scope.Name() == apimeta.RESTScopeNameNamespace {
				if u.GetNamespace() == "" {
					u.SetNamespace(rel.Namespace)
				}
			} else {
				u.SetNamespace("")
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// setOwnership adds what Helm marks every object of a release with, and checks before it
// upgrades or uninstalls one: the managed-by label and the release annotations.
func setOwnership(u *unstructured.Unstructured, rel *releasev1.Release) {
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["app.kubernetes.io/managed-by"] = "Helm"
	u.SetLabels(labels)
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["meta.helm.sh/release-name"], ann["meta.helm.sh/release-namespace"] = rel.Name, rel.Namespace
	u.SetAnnotations(ann)
}
