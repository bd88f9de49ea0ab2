package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/runtime/redact"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/helm"
)

// remoteDependencies resolves the dependencies of a packaged chart that name a repository:
// the repository must be the URL of a HelmRepository in the chart's namespace, whose index,
// credentials and TLS settings serve it. Nothing is downloaded from a URL no HelmRepository
// names. The version is the one Chart.lock pins, else the highest the range allows. An
// 'oci://' repository is matched the same way, against the URLs of 'oci' HelmRepositories; the
// chart is '<url>/<name>'.
func (r *HelmChartReconciler) remoteDependencies(ctx context.Context, obj *sourcev1.HelmChart, tmp *workDir) func(helm.Dependency) (string, error) {
	var repos []sourcev1.HelmRepository
	listed := false
	n := 0
	return func(dep helm.Dependency) (string, error) {
		if strings.HasPrefix(dep.Repository, "@") || strings.HasPrefix(dep.Repository, "alias:") {
			return "", fmt.Errorf("%w: '%s': repository aliases ('%s') name nothing in the cluster; use the URL of a HelmRepository", helm.ErrUnresolvedDependency, dep.Name, dep.Repository)
		}
		if !listed {
			list := &sourcev1.HelmRepositoryList{}
			if err := r.List(ctx, list, client.InNamespace(obj.Namespace)); err != nil {
				return "", err
			}
			repos, listed = list.Items, true
		}
		want := helm.NormalizeRepoURL(dep.Repository)
		var repo *sourcev1.HelmRepository
		for i := range repos {
			if helm.NormalizeRepoURL(repos[i].Spec.URL) == want {
				repo = &repos[i]
				break
			}
		}
		if repo == nil {
			return "", fmt.Errorf("%w: '%s': no HelmRepository in namespace '%s' has the URL '%s'", helm.ErrUnresolvedDependency, dep.Name, obj.Namespace, redact.URL(dep.Repository))
		}
		constraint := dep.Version
		if dep.Locked != "" {
			constraint = dep.Locked
		}
		n++
		path := tmp.path(fmt.Sprintf("dependency-%d.tgz", n))
		if repo.Spec.Type == sourcev1.HelmRepositoryTypeOCI {
			c, err := r.resolveOCI(ctx, repo, dep.Name, constraint)
			if err == nil {
				err = c.pull(ctx, path)
			}
			if err != nil {
				return "", errors.Join(helm.ErrUnresolvedDependency, fmt.Errorf("'%s': %w", dep.Name, err))
			}
			return path, nil
		}
		version, err := lookupVersion(r.Storage, repo, dep.Name, constraint)
		if err != nil {
			return "", fmt.Errorf("%w: '%s': %w", helm.ErrUnresolvedDependency, dep.Name, err)
		}
		if err := r.pull(ctx, repo, version, path); err != nil {
			return "", errors.Join(helm.ErrUnresolvedDependency, fmt.Errorf("'%s': %w", dep.Name, err))
		}
		return path, nil
	}
}
