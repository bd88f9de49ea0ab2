package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/Masterminds/semver/v3"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/helm"
	"github.com/driftless-dev/driftless/source-controller/internal/oci"
)

// legacyChartLayerMediaType is the layer type of charts pushed by Helm before 3.8.
const legacyChartLayerMediaType = "application/tar+gzip"

// genericProvider is the provider that logs in with a Secret (or anonymously).
const genericProvider = "generic"

// userAgent is the User-Agent of source-controller's requests to registries and Helm repositories.
const userAgent = "driftless-source-controller"

// keyDockerConfig is the key of a 'kubernetes.io/dockerconfigjson' Secret.
const keyDockerConfig = ".dockerconfigjson"

// ociChart resolves a HelmChart's version in an 'oci' HelmRepository (see resolveOCI) and
// verifies its signature when spec.verify asks; pull downloads and checks the chart.
func (r *HelmChartReconciler) ociChart(ctx context.Context, s *helmChartScope, repo *sourcev1.HelmRepository) (helm.ChartVersion, func(string) error, error) {
	obj := s.Object
	c, err := r.resolveOCI(ctx, repo, obj.Spec.Chart, obj.Spec.Version)
	if err != nil {
		return helm.ChartVersion{}, nil, err
	}
	if obj.Spec.Verify != nil {
		tctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		if err := r.verifyOCIChart(tctx, s, c.reg, c.desc, c.version.Version, c.secrets); err != nil {
			return helm.ChartVersion{}, nil, err
		}
	}
	return c.version, func(path string) error { return c.pull(ctx, path) }, nil
}

// ociResolved is a chart version found in a registry: the manifest its tag names.
type ociResolved struct {
	reg     *oci.Repository
	desc    ocispec.Descriptor
	version helm.ChartVersion
	// secrets are the credential's values, never shown.
	secrets []string
	timeout time.Duration
}

// resolveOCI finds chart's version in an 'oci' HelmRepository, the repository
// '<url>/<chart>': an exact version is its tag; a range is the highest tag it allows ('_' read
// as '+', as Helm pushes build metadata). The version's Digest is the manifest's, so an
// unchanged tag is not pulled again.
func (r *HelmChartReconciler) resolveOCI(ctx context.Context, repo *sourcev1.HelmRepository, chart, constraint string) (*ociResolved, error) {
	if p := repo.Spec.Provider; p != "" && p != genericProvider {
		return nil, lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.InvalidProviderConfigReason,
			fmt.Errorf("provider '%s': cloud registry login is not supported by this version of source-controller; use 'generic' with a secretRef", p))
	}
	host, path, err := oci.ParseURL(repo.Spec.URL)
	if err != nil {
		return nil, lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.URLInvalidReason,
			fmt.Errorf("HelmRepository '%s': %w", repo.Name, err))
	}
	opts, secrets, err := ociOptions(ctx, r.APIReader, repo, host)
	if err != nil {
		return nil, lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.AuthenticationFailedReason, err)
	}
	ref := host + "/" + chart
	if path != "" {
		ref = host + "/" + path + "/" + chart
	}
	reg, err := oci.Open(ref, opts)
	if err != nil {
		return nil, lifecycle.Stalled(sourcev1.BuildFailedCondition, sourcev1.InvalidChartReferenceReason, err)
	}
	c := &ociResolved{reg: reg, secrets: secrets, timeout: repo.GetTimeout()}
	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var tag string
	if v, err := semver.StrictNewVersion(constraint); err == nil {
		tag = oci.VersionToTag(v.Original())
	} else {
		tags, err := reg.Tags(tctx)
		if err != nil {
			return nil, c.failed(chart, err)
		}
		versions := make([]helm.ChartVersion, 0, len(tags))
		for _, t := range tags {
			versions = append(versions, helm.ChartVersion{Name: chart, Version: oci.TagToVersion(t)})
		}
		picked, err := helm.SelectVersion(versions, constraint)
		if err != nil {
			if errors.Is(err, helm.ErrInvalidVersion) {
				return nil, lifecycle.Stalled(sourcev1.BuildFailedCondition, sourcev1.InvalidChartReferenceReason, err)
			}
			return nil, lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.ChartPullFailedReason, fmt.Errorf("chart '%s' in '%s': %w", chart, ref, err))
		}
		tag = oci.VersionToTag(picked.Version)
	}
	if c.desc, err = reg.Resolve(tctx, tag); err != nil {
		return nil, c.failed(chart, err)
	}
	c.version = helm.ChartVersion{Name: chart, Version: oci.TagToVersion(tag), Digest: c.desc.Digest.String()}
	return c, nil
}

// failed is a registry error as the HelmChart shows it: AuthenticationFailed for refused
// credentials, else ChartPullFailed; never with a credential in it.
func (c *ociResolved) failed(chart string, err error) error {
	reason := sourcev1.ChartPullFailedReason
	if errors.Is(err, oci.ErrUnauthorized) {
		reason = sourcev1.AuthenticationFailedReason
	}
	return lifecycle.Failed(sourcev1.FetchFailedCondition, reason,
		redact.Error(fmt.Errorf("failed to pull chart '%s' from '%s': %w", chart, c.reg.Ref, err), c.secrets...))
}

// pull downloads the chart to path and checks it.
func (c *ociResolved) pull(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := pullOCIChart(ctx, c.reg, c.desc, path); err != nil {
		if errors.Is(err, helm.ErrInvalidChart) {
			return lifecycle.Failed(sourcev1.BuildFailedCondition, sourcev1.ChartPullFailedReason, fmt.Errorf("chart '%s' version '%s': %w", c.version.Name, c.version.Version, err))
		}
		return c.failed(c.version.Name, err)
	}
	return checkPulledChart(path, c.version)
}

// verifyOCIChart checks the cosign signature of the chart's manifest with the public keys of
// verify.secretRef, unless the stored chart is this manifest, verified with these very keys.
// Sets: SourceVerified. Fails with: SourceVerified=False VerificationError (Stalled for what
// cannot be done offline: notation, keyless).
func (r *HelmChartReconciler) verifyOCIChart(ctx context.Context, s *helmChartScope, reg *oci.Repository, desc ocispec.Descriptor, version string, secrets []string) error {
	obj := s.Object
	keys, id, err := trustedKeys(ctx, r.APIReader, obj.Namespace, obj.Spec.Verify)
	if err != nil {
		return err
	}
	s.verified = id
	var stored chartOrigin
	if a := obj.Status.Artifact; a != nil && !s.rebuild {
		stored = r.origin(*a)
	}
	if stored.Digest != desc.Digest.String() || stored.Verified != s.verified {
		if err := reg.VerifyCosign(ctx, desc, keys); err != nil {
			return lifecycle.Failed(sourcev1.SourceVerifiedCondition, sourcev1.VerificationErrorReason,
				redact.Error(fmt.Errorf("chart '%s' version '%s': %w", obj.Spec.Chart, version, err), secrets...))
		}
	}
	conditions.MarkTrue(obj, sourcev1.SourceVerifiedCondition, meta.SucceededReason, "verified signature of version '%s'", version)
	return nil
}

// pullOCIChart writes the chart layer of the manifest desc names to path.
func pullOCIChart(ctx context.Context, reg *oci.Repository, desc ocispec.Descriptor, path string) error {
	m, err := reg.Manifest(ctx, desc)
	if err != nil {
		return err
	}
	if m.Config.MediaType != oci.HelmConfigMediaType {
		return fmt.Errorf("%w: '%s' is a '%s' artifact, not a Helm chart", helm.ErrInvalidChart, reg.Ref, m.Config.MediaType)
	}
	var layer *ocispec.Descriptor
	for i, l := range m.Layers {
		if l.MediaType == oci.HelmChartLayerMediaType || l.MediaType == legacyChartLayerMediaType {
			layer = &m.Layers[i]
			break
		}
	}
	if layer == nil {
		return fmt.Errorf("%w: the manifest of '%s' has no chart layer", helm.ErrInvalidChart, reg.Ref)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := reg.Blob(ctx, *layer, f, helm.MaxChartBytes); err != nil {
		return err
	}
	return f.Close()
}

// ociOptions reads an 'oci' HelmRepository's Secrets: the credential for host from a
// '.dockerconfigjson', or 'username'/'password'; TLS from certSecretRef; 'insecure' for plain
// HTTP. It returns the secret values that must never be shown.
func ociOptions(ctx context.Context, reader client.Reader, repo *sourcev1.HelmRepository, host string) (oci.Options, []string, error) {
	auth, certs, err := helmSecrets(ctx, reader, repo)
	if err != nil {
		return oci.Options{}, nil, err
	}
	var cred *oci.Credential
	if _, ok := auth[keyDockerConfig]; ok {
		if cred, err = dockerCredential(auth, repo.Spec.SecretRef.Name, host, true); err != nil {
			return oci.Options{}, nil, err
		}
	}
	hc, user, pass, secrets, err := helmClientFrom(repo, auth, certs)
	if err != nil {
		return oci.Options{}, nil, err
	}
	if user != "" {
		cred = &oci.Credential{Username: user, Password: pass}
	}
	secrets = append(secrets, cred.Secrets()...)
	return oci.Options{HTTPClient: hc, Credential: cred, PlainHTTP: repo.Spec.Insecure, UserAgent: userAgent}, secrets, nil
}
