package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/git"
	"github.com/driftless-dev/driftless/source-controller/internal/helm"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// DefaultMaxIndexBytes bounds a downloaded index: the largest public ones are a few hundred MB.
const DefaultMaxIndexBytes = 1 << 30

// indexFile is the name of the link to a HelmRepository's current index.
const indexFile = "index.yaml"

// lookupSidecar holds the current index's chart lookup, next to the artifacts.
const lookupSidecar = "lookup"

// HelmRepositoryReconciler fetches HTTP Helm repositories' indexes and stores them as
// artifacts, with a chart lookup on disk for the HelmCharts that name them. An 'oci'
// HelmRepository is a static holder of a registry's address and credentials, as in Flux.
type HelmRepositoryReconciler struct {
	client.Client
	// APIReader reads Secrets from the API server, uncached.
	APIReader client.Reader
	Events    *events.Recorder
	Storage   *storage.Storage
	// MaxIndexBytes bounds an index download; DefaultMaxIndexBytes when zero.
	MaxIndexBytes int64
	// TmpDir holds downloads while they are checked; the OS default when empty.
	TmpDir string

	JitterPercent                uint8
	MinRetryDelay, MaxRetryDelay time.Duration
	Concurrent                   int

	runtime *lifecycle.Reconciler[*sourcev1.HelmRepository, *helmRepoScope]
}

type helmRepoScope struct {
	*lifecycle.Scope[*sourcev1.HelmRepository]
	rebuild bool
	// fetched is the downloaded index, when it differs from the stored one.
	fetched *fetchedIndex
	tmp     *workDir
}

type fetchedIndex struct {
	path, revision string
	validators     indexValidators
}

// indexValidators are what the server said of the index it sent, to ask next time whether
// it changed (If-None-Match, If-Modified-Since).
type indexValidators struct {
	URL          string `json:"url"`
	Revision     string `json:"revision"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

var helmRepositoryPolicy = &lifecycle.Policy[*sourcev1.HelmRepository]{
	Kind:  sourcev1.HelmRepositoryKind,
	Group: sourcev1.GroupVersion.Group,
	Conditions: []string{
		sourcev1.ArtifactInStorageCondition, sourcev1.ArtifactOutdatedCondition,
		sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition,
	},
	Negative:     []string{sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition},
	FailedReason: meta.FailedReason,
	Ready: func(obj *sourcev1.HelmRepository) (string, string) {
		return meta.SucceededReason, fmt.Sprintf("stored artifact: revision '%s'", helmRepoRevision(obj))
	},
	Revision: helmRepoRevision,
}

func helmRepoRevision(obj *sourcev1.HelmRepository) string {
	if obj.Status.Artifact == nil {
		return ""
	}
	return obj.Status.Artifact.Revision
}

// SetupWithManager registers the reconciler.
func (r *HelmRepositoryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.MaxIndexBytes <= 0 {
		r.MaxIndexBytes = DefaultMaxIndexBytes
	}
	r.runtime = &lifecycle.Reconciler[*sourcev1.HelmRepository, *helmRepoScope]{
		Client: r.Client,
		Events: r.Events,
		Policy: helmRepositoryPolicy,
		New:    func() *sourcev1.HelmRepository { return &sourcev1.HelmRepository{} },
		NewScope: func(s *lifecycle.Scope[*sourcev1.HelmRepository]) *helmRepoScope {
			return &helmRepoScope{Scope: s}
		},
		Steps: []lifecycle.Step[*helmRepoScope]{
			{Run: r.reconcileStorage},
			{Run: r.reconcileIndex, Owns: []string{sourcev1.FetchFailedCondition}},
			{Run: r.reconcileArtifact, Owns: []string{sourcev1.StorageOperationFailedCondition}},
		},
		Finalize: func(ctx context.Context, s *helmRepoScope) error {
			return r.Storage.RemoveAll(sourcev1.HelmRepositoryKind, s.Object.Namespace, s.Object.Name)
		},
		Release:       func(s *helmRepoScope) { s.tmp.remove() },
		JitterPercent: r.JitterPercent,
		RateLimiter:   requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&sourcev1.HelmRepository{}, builder.WithPredicates(predicates.SpecOrRequest())).
		WithOptions(r.runtime.ControllerOptions(r.Concurrent)).
		Complete(r)
}

// Reconcile keeps an HTTP repository's index current; an 'oci' one is left static.
func (r *HelmRepositoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &sourcev1.HelmRepository{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if obj.Spec.Type == sourcev1.HelmRepositoryTypeOCI {
		return ctrl.Result{}, r.static(ctx, obj)
	}
	return r.runtime.Reconcile(ctx, req)
}

// static makes an 'oci' HelmRepository what Flux makes it: no finalizer, no artifact and no
// conditions; HelmCharts read its URL and secret themselves. A repository switched from
// 'default' loses its stored index.
func (r *HelmRepositoryReconciler) static(ctx context.Context, obj *sourcev1.HelmRepository) error {
	if controllerutil.ContainsFinalizer(obj, meta.Finalizer) {
		if err := r.Storage.RemoveAll(sourcev1.HelmRepositoryKind, obj.Namespace, obj.Name); err != nil {
			return err
		}
		patch := client.MergeFrom(obj.DeepCopy())
		controllerutil.RemoveFinalizer(obj, meta.Finalizer)
		if err := r.Patch(ctx, obj, patch); err != nil {
			return client.IgnoreNotFound(err)
		}
	}
	if len(obj.Status.Conditions) == 0 && obj.Status.Artifact == nil && obj.Status.URL == "" {
		return nil
	}
	patch := client.MergeFrom(obj.DeepCopy())
	obj.Status = sourcev1.HelmRepositoryStatus{ObservedGeneration: obj.Generation}
	return client.IgnoreNotFound(r.Status().Patch(ctx, obj, patch))
}

// reconcileStorage checks the recorded artifact against storage; a missing or corrupt one is
// fetched again.
func (r *HelmRepositoryReconciler) reconcileStorage(ctx context.Context, s *helmRepoScope) error {
	s.rebuild = checkStored(ctx, r.Storage, s.Object, &s.Object.Status.Artifact, "fetching it again")
	return nil
}

// reconcileIndex downloads the index, unless the server says it did not change since the
// stored one, and checks that it is one.
// Fails with: FetchFailed (AuthenticationFailed for the Secrets, IndexationFailed for the
// download and the index; Stalled URLInvalid for a URL that cannot be one).
func (r *HelmRepositoryReconciler) reconcileIndex(ctx context.Context, s *helmRepoScope) error {
	obj := s.Object
	indexURL, err := helmIndexURL(obj.Spec.URL)
	if err != nil {
		return lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.URLInvalidReason, err)
	}
	httpClient, user, pass, secrets, err := helmClient(ctx, r.APIReader, obj)
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.AuthenticationFailedReason, err)
	}
	ctx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()

	var known indexValidators
	if a := obj.Status.Artifact; a != nil && !s.rebuild {
		known = r.validators(*a)
		if known.URL != indexURL || known.Revision != a.Revision {
			known = indexValidators{}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, indexURL, nil)
	if err != nil {
		return lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.URLInvalidReason, fmt.Errorf("the URL is not valid"))
	}
	req.Header.Set("User-Agent", userAgent)
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	if known.ETag != "" {
		req.Header.Set("If-None-Match", known.ETag)
	}
	if known.LastModified != "" {
		req.Header.Set("If-Modified-Since", known.LastModified)
	}
	shown := redact.URL(indexURL)
	resp, err := httpClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.IndexationFailedReason,
			redact.Error(fmt.Errorf("failed to fetch Helm repository index '%s': %w", shown, err), secrets...))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && known.Revision != "" {
		ctrl.LoggerFrom(ctx).V(1).Info("index not modified", "revision", known.Revision)
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.IndexationFailedReason,
			fmt.Errorf("failed to fetch Helm repository index '%s': %s", shown, resp.Status))
	}
	tmp, err := newWorkDir(r.TmpDir, obj)
	if err != nil {
		return fmt.Errorf("creating a work directory: %w", err)
	}
	s.tmp = tmp
	path := tmp.path(indexFile)
	revision, err := downloadFile(resp.Body, path, r.MaxIndexBytes, "the index")
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.IndexationFailedReason,
			redact.Error(fmt.Errorf("failed to fetch Helm repository index '%s': %w", shown, err), secrets...))
	}
	validators := indexValidators{URL: indexURL, Revision: revision, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	if a := obj.Status.Artifact; a != nil && !s.rebuild && a.Revision == revision {
		r.saveValidators(*a, validators) // the same index: remember how to ask for it next time
		return nil
	}
	// The lookup is built here, before anything is stored: an index that does not parse
	// keeps the last artifact.
	lookup := tmp.path("lookup")
	n, err := writeLookup(path, lookup)
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.IndexationFailedReason,
			fmt.Errorf("the index of '%s' is not valid: %w", shown, err))
	}
	ctrl.LoggerFrom(ctx).V(1).Info("index fetched", "revision", revision, "charts", n)
	s.fetched = &fetchedIndex{path: path, revision: revision, validators: validators}
	return nil
}

// reconcileArtifact stores a new index and its lookup, or confirms the current one.
// Sets: ArtifactInStorage. Fails with: StorageOperationFailed.
func (r *HelmRepositoryReconciler) reconcileArtifact(ctx context.Context, s *helmRepoScope) error {
	obj, f := s.Object, s.fetched
	if f != nil {
		artifact := r.Storage.NewArtifact(sourcev1.HelmRepositoryKind, obj.Namespace, obj.Name, f.revision,
			"index-"+strings.TrimPrefix(f.revision, "sha256:")+".yaml")
		if err := r.Storage.Store(&artifact, func(w io.Writer) error { return copyFile(w, f.path) }); err != nil {
			return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
		}
		if err := r.installLookup(artifact, s.tmp.path("lookup")); err != nil {
			return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
		}
		r.saveValidators(artifact, f.validators)
		previous := obj.Status.Artifact
		obj.Status.Artifact = &artifact
		if !previous.HasRevision(artifact.Revision) {
			s.Announce("NewArtifact", "stored fetched index of size %s from '%s'", humanBytes(*artifact.Size), redact.URL(obj.Spec.URL))
		}
	}
	a := *obj.Status.Artifact
	if f == nil {
		if err := r.ensureLookup(a); err != nil {
			return lifecycle.Failed(sourcev1.StorageOperationFailedCondition, sourcev1.ArchiveOperationFailedReason, err)
		}
	}
	link, err := publish(ctx, r.Storage, obj, a, indexFile, fmt.Sprintf("stored artifact: revision '%s'", a.Revision))
	if err != nil {
		return err
	}
	obj.Status.URL = link
	return nil
}

// helmIndexURL is the repository's index.yaml, as Helm finds it.
func helmIndexURL(repoURL string) (string, error) {
	u, err := url.Parse(repoURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("the URL '%s' is not an http(s) URL of a Helm repository", redact.URL(repoURL))
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + indexFile
	u.RawPath = ""
	return u.String(), nil
}

// helmClient reads a repository's Secrets: basic auth from secretRef, TLS from
// certSecretRef (or, deprecated, from secretRef).
func helmClient(ctx context.Context, reader client.Reader, obj *sourcev1.HelmRepository) (c *http.Client, user, pass string, secrets []string, err error) {
	auth, certs, err := helmSecrets(ctx, reader, obj)
	if err != nil {
		return nil, "", "", nil, err
	}
	return helmClientFrom(obj, auth, certs)
}

// helmSecrets reads the data of a repository's secretRef and certSecretRef (nil when unset).
func helmSecrets(ctx context.Context, reader client.Reader, obj *sourcev1.HelmRepository) (auth, certs map[string][]byte, err error) {
	if auth, err = readSecret(ctx, reader, obj.Namespace, obj.Spec.SecretRef); err != nil {
		return nil, nil, err
	}
	if certs, err = readSecret(ctx, reader, obj.Namespace, obj.Spec.CertSecretRef); err != nil {
		return nil, nil, err
	}
	return auth, certs, nil
}

// helmClientFrom is helmClient with the Secrets' data read.
func helmClientFrom(obj *sourcev1.HelmRepository, auth, certs map[string][]byte) (c *http.Client, user, pass string, secrets []string, err error) {
	user, pass = string(auth[git.KeyUsername]), string(auth[git.KeyPassword])
	if (user == "") != (pass == "") && auth != nil {
		return nil, "", "", nil, fmt.Errorf("secret '%s' needs both 'username' and 'password'", obj.Spec.SecretRef.Name)
	}
	if pass != "" {
		secrets = append(secrets, pass)
	}
	if certs == nil && (len(auth[git.KeyCA]) > 0 || len(auth[git.KeyTLSCert]) > 0) {
		certs = auth // the deprecated place of the TLS keys
	}
	transport, err := newTransport(certs)
	if err != nil {
		return nil, "", "", nil, err
	}
	return &http.Client{Transport: transport}, user, pass, secrets, nil
}

// downloadFile writes body to path (at most max bytes of what it is: "the index", "the chart")
// and returns its digest.
func downloadFile(body io.Reader, path string, max int64, what string) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, max+1))
	if err != nil {
		return "", err
	}
	if n > max {
		return "", fmt.Errorf("%s is over %s", what, humanBytes(max))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), f.Close()
}

func writeLookup(index, dir string) (int, error) {
	f, err := os.Open(index)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return helm.WriteLookup(dir, f)
}

// installLookup moves a built lookup next to the artifact, marked with its revision.
func (r *HelmRepositoryReconciler) installLookup(a meta.Artifact, built string) error {
	dir, err := r.Storage.Sidecar(a, lookupSidecar)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(built, ".revision"), []byte(a.Revision), 0o644); err != nil {
		return err
	}
	old := dir + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(built, dir); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// ensureLookup rebuilds the stored index's lookup when it is not the artifact's (storage
// restored, or written by an older version).
func (r *HelmRepositoryReconciler) ensureLookup(a meta.Artifact) error {
	dir, err := r.Storage.Sidecar(a, lookupSidecar)
	if err != nil {
		return err
	}
	if rev, err := os.ReadFile(filepath.Join(dir, ".revision")); err == nil && string(rev) == a.Revision {
		return nil
	}
	index, err := r.Storage.LocalPath(a)
	if err != nil {
		return err
	}
	built := dir + ".build"
	_ = os.RemoveAll(built)
	if _, err := writeLookup(index, built); err != nil {
		_ = os.RemoveAll(built)
		return fmt.Errorf("indexing the stored index: %w", err)
	}
	return r.installLookup(a, built)
}

// LookupDir is where the charts of a HelmRepository's current index can be looked up, and
// the revision it holds.
func LookupDir(st *storage.Storage, a meta.Artifact) (string, error) {
	return st.Sidecar(a, lookupSidecar)
}

func (r *HelmRepositoryReconciler) validators(a meta.Artifact) indexValidators {
	var v indexValidators
	dir, err := r.Storage.Sidecar(a, "validators.json")
	if err != nil {
		return v
	}
	if data, err := os.ReadFile(dir); err == nil {
		_ = json.Unmarshal(data, &v)
	}
	return v
}

func (r *HelmRepositoryReconciler) saveValidators(a meta.Artifact, v indexValidators) {
	path, err := r.Storage.Sidecar(a, "validators.json")
	if err != nil {
		return
	}
	if data, err := json.Marshal(v); err == nil {
		_ = os.WriteFile(path, data, 0o644)
	}
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
