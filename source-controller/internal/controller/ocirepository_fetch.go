package controller

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/oci"
)

// ociOriginSidecar is the name of the file next to an OCIRepository's artifacts that holds
// its ociOrigin.
const ociOriginSidecar = "oci-origin.json"

// reconcileSource resolves spec.ref to a manifest digest (one request for a tag or digest, a
// tag listing for a range), verifies the signature when spec.verify asks, and pulls the
// selected layer only when that digest, or a setting that shapes the artifact, differs from
// the stored artifact's.
// Sets: SourceVerified. Fails with: FetchFailed (AuthenticationFailed, OCIArtifactPullFailed,
// OCIArtifactLayerOperationFailed; Stalled for a URL, provider or range that cannot work),
// SourceVerified (VerificationError).
func (r *OCIRepositoryReconciler) reconcileSource(ctx context.Context, s *ociScope) error {
	obj := s.Object
	if p := obj.Spec.Provider; p != "" && p != genericProvider {
		return lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.InvalidProviderConfigReason,
			fmt.Errorf("provider '%s': cloud registry login is not supported by this version of source-controller; use 'generic' with a secretRef or serviceAccountName", p))
	}
	host, path, err := oci.ParseURL(obj.Spec.URL)
	if err == nil && path == "" {
		err = errors.New("the URL names no repository, only a registry")
	}
	if err != nil {
		return lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.URLInvalidReason, err)
	}
	var keys []crypto.PublicKey
	if v := obj.Spec.Verify; v != nil {
		// Before any request: a verification that cannot be done is the spec's to fix.
		if keys, s.verified, err = trustedKeys(ctx, r.APIReader, obj.Namespace, v); err != nil {
			return err
		}
	}
	opts, secrets, err := r.registryOptions(ctx, obj, host)
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.AuthenticationFailedReason, redact.Error(err, secrets...))
	}
	reg, err := oci.Open(host+"/"+path, opts)
	if err != nil {
		return lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.URLInvalidReason, err)
	}
	failed := func(reason string, err error) error {
		if errors.Is(err, oci.ErrUnauthorized) {
			reason = sourcev1.AuthenticationFailedReason
		}
		return lifecycle.Failed(sourcev1.FetchFailedCondition, reason, redact.Error(err, secrets...))
	}

	ctx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()
	reference, tag, err := resolveReference(ctx, reg, obj.Spec.Reference)
	if err != nil {
		if errors.Is(err, oci.ErrInvalidRange) {
			return lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.OCIPullFailedReason, err)
		}
		return failed(sourcev1.OCIPullFailedReason, err)
	}
	if s.desc, err = reg.Resolve(ctx, reference); err != nil {
		return failed(sourcev1.OCIPullFailedReason, fmt.Errorf("failed to resolve '%s': %w", reference, err))
	}
	s.revision = s.desc.Digest.String()
	if tag != "" {
		s.revision = tag + "@" + s.revision
	}

	current := !s.rebuild && artifactCurrentOCI(obj, s.revision)
	if err := r.verify(ctx, s, reg, keys, current, secrets); err != nil {
		return err
	}
	if current {
		return nil
	}
	conditions.MarkTrue(obj, sourcev1.ArtifactOutdatedCondition, sourcev1.NewRevisionReason, "new digest '%s' for '%s'", s.revision, obj.Spec.URL)

	m, err := reg.Manifest(ctx, s.desc)
	if err != nil {
		return failed(sourcev1.OCIPullFailedReason, err)
	}
	layer, err := selectLayer(m, obj.Spec.LayerSelector)
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.OCILayerOperationFailedReason, fmt.Errorf("'%s': %w", s.revision, err))
	}
	if s.tmp, err = newWorkDir(r.TmpDir, obj); err != nil {
		return fmt.Errorf("creating a work directory: %w", err)
	}
	if s.pulled, err = r.pullLayer(ctx, reg, layer, obj.Spec.LayerSelector, s.tmp); err != nil {
		if errors.Is(err, errLayer) {
			return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.OCILayerOperationFailedReason, fmt.Errorf("'%s': %w", s.revision, err))
		}
		return failed(sourcev1.OCIPullFailedReason, err)
	}
	s.pulled.annotations = m.Annotations
	return nil
}

// resolveReference is what to resolve in the registry for ref, and the tag the revision is
// named after ("" for a digest). Precedence: digest, semver, tag; 'latest' when none is set.
func resolveReference(ctx context.Context, reg *oci.Repository, ref *sourcev1.OCIRepositoryRef) (reference, tag string, err error) {
	switch {
	case ref == nil || (ref.Digest == "" && ref.SemVer == "" && ref.Tag == ""):
		return "latest", "latest", nil
	case ref.Digest != "":
		return ref.Digest, "", nil
	case ref.SemVer != "":
		tags, err := reg.Tags(ctx)
		if err != nil {
			return "", "", fmt.Errorf("failed to list the tags of '%s': %w", reg.Ref, err)
		}
		tag, err := oci.SelectTag(tags, ref.SemVer, ref.SemverFilter)
		if err != nil {
			return "", "", fmt.Errorf("'%s': %w", reg.Ref, err)
		}
		return tag, tag, nil
	default:
		return ref.Tag, ref.Tag, nil
	}
}

// artifactCurrentOCI reports whether the stored artifact already holds revision, made with
// the current layer selector and ignore rules.
func artifactCurrentOCI(obj *sourcev1.OCIRepository, revision string) bool {
	a := obj.Status.Artifact
	return a != nil && a.Revision == revision && equalPtr(obj.Status.ObservedIgnore, obj.Spec.Ignore) &&
		layerSelectorOf(obj.Status.ObservedLayerSelector) == layerSelectorOf(obj.Spec.LayerSelector)
}

// layerSelectorOf is the selector with its defaults filled in.
func layerSelectorOf(sel *sourcev1.OCILayerSelector) sourcev1.OCILayerSelector {
	var out sourcev1.OCILayerSelector
	if sel != nil {
		out = *sel
	}
	if out.Operation == "" {
		out.Operation = sourcev1.OCILayerExtract
	}
	return out
}

// errLayer marks a layer that cannot be stored: missing, or not a safe tar+gzip.
var errLayer = errors.New("layer")

// selectLayer is the layer spec.layerSelector picks: the first of its media type, else the
// first layer.
func selectLayer(m *ocispec.Manifest, sel *sourcev1.OCILayerSelector) (ocispec.Descriptor, error) {
	if len(m.Layers) == 0 {
		return ocispec.Descriptor{}, errors.New("the artifact has no layers")
	}
	want := layerSelectorOf(sel).MediaType
	if want == "" {
		return m.Layers[0], nil
	}
	for _, l := range m.Layers {
		if l.MediaType == want {
			return l, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("the artifact has no layer of media type '%s'", want)
}

// pullLayer downloads the layer into tmp, checked against its digest and bounded by the
// artifact limits, and extracts it (refusing links, paths that leave the root and archives
// over the limits) unless the operation is 'copy'.
func (r *OCIRepositoryReconciler) pullLayer(ctx context.Context, reg *oci.Repository, layer ocispec.Descriptor, sel *sourcev1.OCILayerSelector, tmp *workDir) (*pulledLayer, error) {
	limits := r.Storage.Limits.WithDefaults()
	blob := tmp.path("layer")
	f, err := os.Create(blob)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := reg.Blob(ctx, layer, f, limits.MaxBytes); err != nil {
		return nil, err
	}
	if layerSelectorOf(sel).Operation == sourcev1.OCILayerCopy {
		return &pulledLayer{blob: blob}, f.Close()
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	dir := tmp.path("content")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	if err := artifact.ExtractTarGz(f, dir, limits); err != nil {
		return nil, fmt.Errorf("%w '%s' cannot be extracted: %w", errLayer, layer.Digest, err)
	}
	return &pulledLayer{dir: dir}, nil
}

// registryOptions reads the Secrets an OCIRepository names: the credential for host from
// secretRef's '.dockerconfigjson', else from the image pull secrets of serviceAccountName;
// TLS from certSecretRef; the proxy from proxySecretRef; 'insecure' for plain HTTP. It returns
// the secret values that must never be shown.
func (r *OCIRepositoryReconciler) registryOptions(ctx context.Context, obj *sourcev1.OCIRepository, host string) (oci.Options, []string, error) {
	cred, err := r.credential(ctx, obj, host)
	if err != nil {
		return oci.Options{}, nil, err
	}
	secrets := cred.Secrets()
	transport, proxySecrets, err := secretTransport(ctx, r.APIReader, obj.Namespace, obj.Spec.CertSecretRef, obj.Spec.ProxySecretRef)
	if err != nil {
		return oci.Options{}, secrets, err
	}
	secrets = append(secrets, proxySecrets...)
	return oci.Options{
		HTTPClient: &http.Client{Transport: transport},
		Credential: cred,
		PlainHTTP:  obj.Spec.Insecure,
		UserAgent:  userAgent,
		Cache:      r.authCacheFor(client.ObjectKeyFromObject(obj), cred),
	}, secrets, nil
}

// credential finds the registry credential for host: secretRef's, else the first of the
// service account's image pull secrets that has one; nil means anonymous.
func (r *OCIRepositoryReconciler) credential(ctx context.Context, obj *sourcev1.OCIRepository, host string) (*oci.Credential, error) {
	if ref := obj.Spec.SecretRef; ref != nil {
		data, err := readSecret(ctx, r.APIReader, obj.Namespace, ref)
		if err != nil {
			return nil, err
		}
		return dockerCredential(data, ref.Name, host, true)
	}
	name := obj.Spec.ServiceAccountName
	if name == "" {
		return nil, nil
	}
	sa := &corev1.ServiceAccount{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, sa); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("service account '%s' not found", name)
		}
		return nil, fmt.Errorf("reading service account '%s': %w", name, err)
	}
	for _, ps := range sa.ImagePullSecrets {
		data, err := readSecret(ctx, r.APIReader, obj.Namespace, &meta.LocalObjectReference{Name: ps.Name})
		if err != nil {
			return nil, fmt.Errorf("image pull secret of service account '%s': %w", name, err)
		}
		if cred, err := dockerCredential(data, ps.Name, host, false); err != nil || cred != nil {
			return cred, err
		}
	}
	return nil, nil
}

// dockerCredential is the credential for host in a docker-registry Secret's data; required
// says that a Secret without one is an error rather than anonymous access.
func dockerCredential(data map[string][]byte, name, host string, required bool) (*oci.Credential, error) {
	cfg, ok := data[keyDockerConfig]
	if !ok {
		if !required {
			return nil, nil
		}
		return nil, fmt.Errorf("secret '%s' has no '%s': it must be a 'kubernetes.io/dockerconfigjson' Secret", name, keyDockerConfig)
	}
	cred, err := oci.DockerConfigCredential(cfg, host)
	if err != nil {
		return nil, fmt.Errorf("secret '%s': %w", name, err)
	}
	if cred == nil && required {
		return nil, fmt.Errorf("secret '%s' has no credentials for '%s'", name, host)
	}
	return cred, nil
}

// verify checks the cosign signature of the resolved manifest with keys, those of
// spec.verify.secretRef (s.verified names them). A stored artifact of that very digest, verified with these very
// keys, is not verified again.
// Sets: SourceVerified (removed without spec.verify). Fails with: SourceVerified=False
// VerificationError (Stalled for what cannot be done offline).
func (r *OCIRepositoryReconciler) verify(ctx context.Context, s *ociScope, reg *oci.Repository, keys []crypto.PublicKey, current bool, secrets []string) error {
	obj := s.Object
	if obj.Spec.Verify == nil {
		conditions.Delete(obj, sourcev1.SourceVerifiedCondition)
		return nil
	}
	var stored ociOrigin
	if current {
		loadSidecar(r.Storage, *obj.Status.Artifact, ociOriginSidecar, &stored)
	}
	if !current || stored != (s.origin()) || !conditions.IsTrue(obj, sourcev1.SourceVerifiedCondition) {
		if err := reg.VerifyCosign(ctx, s.desc, keys); err != nil {
			return lifecycle.Failed(sourcev1.SourceVerifiedCondition, sourcev1.VerificationErrorReason,
				redact.Error(fmt.Errorf("failed to verify the signature of '%s': %w", s.revision, err), secrets...))
		}
		if current {
			if err := saveSidecar(r.Storage, *obj.Status.Artifact, ociOriginSidecar, s.origin()); err != nil {
				return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
			}
		}
	}
	conditions.MarkTrue(obj, sourcev1.SourceVerifiedCondition, meta.SucceededReason, "verified signature of revision %s", s.revision)
	return nil
}

// trustedKeys reads the cosign public keys ('*.pub') that verify.secretRef holds, and an id
// of them that changes when they do. Notation and keyless verification are refused (Stalled):
// they need what cannot be reached or configured here.
func trustedKeys(ctx context.Context, reader client.Reader, namespace string, v *sourcev1.OCIRepositoryVerification) ([]crypto.PublicKey, string, error) {
	switch {
	case v.Provider != "" && v.Provider != "cosign":
		return nil, "", lifecycle.Stalled(sourcev1.SourceVerifiedCondition, sourcev1.VerificationErrorReason,
			fmt.Errorf("verify provider '%s' is not supported by this version of source-controller; use 'cosign' with public keys", v.Provider))
	case v.SecretRef == nil:
		return nil, "", lifecycle.Stalled(sourcev1.SourceVerifiedCondition, sourcev1.VerificationErrorReason,
			errors.New("keyless cosign verification needs Sigstore's public services (Fulcio, Rekor), which this version of source-controller does not reach; set verify.secretRef to a Secret with the '*.pub' public keys"))
	}
	data, err := readSecret(ctx, reader, namespace, v.SecretRef)
	if err != nil {
		return nil, "", lifecycle.Failed(sourcev1.SourceVerifiedCondition, sourcev1.VerificationErrorReason, err)
	}
	keys, err := oci.ParsePublicKeys(data)
	if err != nil {
		return nil, "", lifecycle.Failed(sourcev1.SourceVerifiedCondition, sourcev1.VerificationErrorReason, fmt.Errorf("secret '%s': %w", v.SecretRef.Name, err))
	}
	return keys, "cosign:" + oci.KeysDigest(data), nil
}
