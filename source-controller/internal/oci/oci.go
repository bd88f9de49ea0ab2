// Package oci reads artifacts from OCI registries with oras-go: the Helm charts of 'oci'
// HelmRepositories, and what OCIRepositories point at. Everything it reads is bounded: a
// manifest's size, the number of tags, each blob's size, and each blob is checked against its
// digest while it is read.
package oci

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Media types of a Helm chart pushed with 'helm push'.
const (
	HelmConfigMediaType     = "application/vnd.cncf.helm.config.v1+json"
	HelmChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

const (
	// MaxManifestBytes bounds a manifest read from a registry.
	MaxManifestBytes = 4 << 20
	// MaxTags bounds the tags listed for a version range.
	MaxTags = 100_000
)

// Scheme is the prefix of an OCI repository URL.
const Scheme = "oci://"

// ErrUnauthorized marks a registry's refusal of the credentials (or of none).
var ErrUnauthorized = errors.New("the registry refused the credentials")

// Credential is a registry's username and password, or an identity (refresh) token.
type Credential struct {
	Username, Password, IdentityToken string
}

// Secrets are the credential's values that must never be shown.
func (c *Credential) Secrets() []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, s := range []string{c.Password, c.IdentityToken} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Options says how to reach a registry.
type Options struct {
	// HTTPClient carries the TLS settings and proxy; http.DefaultClient's transport when nil.
	HTTPClient *http.Client
	// Credential is sent to the repository's registry only; anonymous when nil.
	Credential *Credential
	// PlainHTTP talks HTTP instead of HTTPS ('insecure').
	PlainHTTP bool
	UserAgent string
	// Cache keeps the registry's auth scheme and tokens between uses, so that a request is not
	// first refused to learn them; a new one when nil. It must only be shared by uses with
	// the same Credential.
	Cache auth.Cache
}

// Repository is one repository of a registry, e.g. 'ghcr.io/org/charts/app'.
type Repository struct {
	repo *remote.Repository
	// Ref is 'host/path', for messages (never holds credentials).
	Ref string
}

// ParseURL splits 'oci://host[:port]/path' into 'host[:port]' and 'path' (which may be empty).
// A tag, digest, userinfo, query or fragment is refused.
func ParseURL(raw string) (host, path string, err error) {
	if !strings.HasPrefix(raw, Scheme) {
		return "", "", fmt.Errorf("the URL must start with '%s'", Scheme)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", errors.New("the URL is not 'oci://<host>/<path>'")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", errors.New("the URL must not carry credentials, a query or a fragment")
	}
	path = strings.Trim(u.Path, "/")
	if strings.ContainsAny(path, "@:") {
		return "", "", errors.New("the URL must not name a tag or digest")
	}
	return u.Host, path, nil
}

// Open returns the repository 'host/path' reached with opts.
func Open(ref string, opts Options) (*Repository, error) {
	repo, err := remote.NewRepository(ref)
	if err != nil {
		return nil, fmt.Errorf("'%s' is not a valid OCI repository: %w", ref, err)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	cache := opts.Cache
	if cache == nil {
		cache = auth.NewCache()
	}
	c := &auth.Client{Client: hc, Cache: cache, Header: http.Header{}}
	if opts.UserAgent != "" {
		c.SetUserAgent(opts.UserAgent)
	}
	if opts.Credential != nil {
		c.Credential = auth.StaticCredential(repo.Reference.Registry, auth.Credential{Username: opts.Credential.Username, Password: opts.Credential.Password, RefreshToken: opts.Credential.IdentityToken})
	}
	repo.Client = c
	repo.PlainHTTP = opts.PlainHTTP
	repo.MaxMetadataBytes = MaxManifestBytes
	return &Repository{repo: repo, Ref: ref}, nil
}

// Tags lists the repository's tags, at most MaxTags.
func (r *Repository) Tags(ctx context.Context) ([]string, error) {
	var out []string
	err := r.repo.Tags(ctx, "", func(tags []string) error {
		out = append(out, tags...)
		if len(out) > MaxTags {
			return fmt.Errorf("'%s' has more than %d tags", r.Ref, MaxTags)
		}
		return nil
	})
	return out, r.wrap(err)
}

// Resolve returns the manifest descriptor a tag (or digest) names.
func (r *Repository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	desc, err := r.repo.Resolve(ctx, reference)
	return desc, r.wrap(err)
}

// Manifest reads the image manifest desc names, checked against its digest.
func (r *Repository) Manifest(ctx context.Context, desc ocispec.Descriptor) (*ocispec.Manifest, error) {
	if desc.MediaType != ocispec.MediaTypeImageManifest && desc.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
		return nil, fmt.Errorf("'%s@%s' is a '%s', not an image manifest", r.Ref, desc.Digest, desc.MediaType)
	}
	if desc.Size > MaxManifestBytes {
		return nil, fmt.Errorf("the manifest of '%s@%s' is over %d bytes", r.Ref, desc.Digest, MaxManifestBytes)
	}
	rc, err := r.repo.Fetch(ctx, desc)
	if err != nil {
		return nil, r.wrap(err)
	}
	defer rc.Close()
	data, err := content.ReadAll(rc, desc)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of '%s@%s': %w", r.Ref, desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the manifest of '%s@%s' is not JSON: %w", r.Ref, desc.Digest, err)
	}
	return &m, nil
}

// Blob copies the blob desc names into w, refusing one over max bytes or whose bytes are not
// its digest's.
func (r *Repository) Blob(ctx context.Context, desc ocispec.Descriptor, w io.Writer, max int64) error {
	if desc.Size < 0 || desc.Size > max {
		return fmt.Errorf("the layer '%s' is %d bytes, over the limit of %d", desc.Digest, desc.Size, max)
	}
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("the layer's digest '%s' is not valid: %w", desc.Digest, err)
	}
	rc, err := r.repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		return r.wrap(err)
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, desc)
	if _, err := io.Copy(w, vr); err != nil {
		return fmt.Errorf("reading the layer '%s': %w", desc.Digest, err)
	}
	if err := vr.Verify(); err != nil {
		return fmt.Errorf("the layer '%s' does not match its digest or size: %w", desc.Digest, err)
	}
	return nil
}

// wrap turns a registry's 401/403 into ErrUnauthorized, keeping its message.
func (r *Repository) wrap(err error) error {
	if err == nil {
		return nil
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%w: '%s': %s", ErrUnauthorized, r.Ref, http.StatusText(resp.StatusCode))
	}
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return fmt.Errorf("%w: '%s' asks for credentials and none are set", ErrUnauthorized, r.Ref)
	}
	if errors.Is(err, errdef.ErrNotFound) {
		return fmt.Errorf("'%s': %w", r.Ref, err)
	}
	return err
}

// IsNotFound says whether err is a registry's 'not found'.
func IsNotFound(err error) bool {
	var resp *errcode.ErrorResponse
	return errors.Is(err, errdef.ErrNotFound) || (errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound)
}

// DockerConfigCredential finds the credential for host in a '.dockerconfigjson': the entry
// whose key is the host, with or without a scheme or path ('https://host/v1/').
func DockerConfigCredential(data []byte, host string) (*Credential, error) {
	var cfg struct {
		Auths map[string]struct {
			Auth          string `json:"auth"`
			Username      string `json:"username"`
			Password      string `json:"password"`
			IdentityToken string `json:"identitytoken"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, errors.New("'.dockerconfigjson' is not a Docker config")
	}
	for key, a := range cfg.Auths {
		k := key
		if i := strings.Index(k, "://"); i >= 0 {
			k = k[i+3:]
		}
		k, _, _ = strings.Cut(k, "/")
		if k != host {
			continue
		}
		c := &Credential{Username: a.Username, Password: a.Password}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("the 'auth' of '%s' in '.dockerconfigjson' is not base64", k)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("the 'auth' of '%s' in '.dockerconfigjson' is not 'user:password'", k)
			}
			c.Username, c.Password = user, pass
		}
		c.IdentityToken = a.IdentityToken
		return c, nil
	}
	return nil, nil
}

// TagToVersion is the chart version a tag stands for: OCI tags cannot hold '+', which Helm
// pushes as '_'.
func TagToVersion(tag string) string { return strings.ReplaceAll(tag, "_", "+") }

// VersionToTag is the tag a chart version is pushed as.
func VersionToTag(version string) string { return strings.ReplaceAll(version, "+", "_") }
