package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/apimachinery/pkg/types"
	"oras.land/oras-go/v2/registry/remote/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/oci"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// OCIRepositoryReconciler pulls the OCI artifacts OCIRepositories point at and stores the
// selected layer of each as an artifact. The reference is resolved to a manifest digest
// first: when it names the stored artifact, nothing is downloaded.
type OCIRepositoryReconciler struct {
	client.Client
	// APIReader reads Secrets and ServiceAccounts from the API server, uncached.
	APIReader client.Reader
	Events    *events.Recorder
	Storage   *storage.Storage
	// TmpDir holds pulled layers while they are checked; the OS default when empty.
	TmpDir string

	JitterPercent                uint8
	MinRetryDelay, MaxRetryDelay time.Duration
	Concurrent                   int

	runtime *lifecycle.Reconciler[*sourcev1.OCIRepository, *ociScope]
	// authCaches holds each OCIRepository's registry auth cache (*authCache), so that a
	// registry that asks for credentials is not first asked without them at every reconcile.
	// One per object and credential: a token is never shared between objects.
	authCaches sync.Map
}

// authCache is the registry auth cache of one OCIRepository, for one credential.
type authCache struct {
	id    string
	cache auth.Cache
}

// ociScope is what one reconcile's steps find and pass on.
type ociScope struct {
	*lifecycle.Scope[*sourcev1.OCIRepository]
	rebuild bool
	tmp     *workDir
	// revision and desc are what the reference resolved to.
	revision string
	desc     ocispec.Descriptor
	// pulled is the layer to store, nil when the stored artifact is current.
	pulled *pulledLayer
	// verified names the keys the artifact's signature verified with, when spec.verify asks.
	verified string
}

// pulledLayer is a downloaded layer: extracted into dir, or kept as the file blob ('copy').
type pulledLayer struct {
	dir, blob   string
	annotations map[string]string
}

// ociOrigin is kept next to an object's artifacts: the manifest digest of the current one and
// the keys its signature verified with, so that an unchanged digest is not verified again
// until the keys change.
type ociOrigin struct {
	Digest   string `json:"digest"`
	Verified string `json:"verified,omitempty"`
}

// origin is the record of the resolved manifest, verified with the keys s.verified names.
func (s *ociScope) origin() ociOrigin {
	return ociOrigin{Digest: s.desc.Digest.String(), Verified: s.verified}
}

var ociRepositoryPolicy = &lifecycle.Policy[*sourcev1.OCIRepository]{
	Kind:  sourcev1.OCIRepositoryKind,
	Group: sourcev1.GroupVersion.Group,
	Conditions: []string{
		sourcev1.ArtifactInStorageCondition, sourcev1.ArtifactOutdatedCondition, sourcev1.SourceVerifiedCondition,
		sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition,
	},
	Negative:     []string{sourcev1.FetchFailedCondition, sourcev1.StorageOperationFailedCondition},
	FailedReason: meta.FailedReason,
	Ready: func(obj *sourcev1.OCIRepository) (string, string) {
		return meta.SucceededReason, fmt.Sprintf("stored artifact for digest '%s'", ociRevision(obj))
	},
	Revision: ociRevision,
}

func ociRevision(obj *sourcev1.OCIRepository) string {
	if obj.Status.Artifact == nil {
		return ""
	}
	return obj.Status.Artifact.Revision
}

// SetupWithManager registers the reconciler: OCIRepositories are reconciled on a new
// generation or a new reconcile request, not on their own status writes.
func (r *OCIRepositoryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.runtime = &lifecycle.Reconciler[*sourcev1.OCIRepository, *ociScope]{
		Client: r.Client,
		Events: r.Events,
		Policy: ociRepositoryPolicy,
		New:    func() *sourcev1.OCIRepository { return &sourcev1.OCIRepository{} },
		NewScope: func(s *lifecycle.Scope[*sourcev1.OCIRepository]) *ociScope {
			return &ociScope{Scope: s}
		},
		Steps: []lifecycle.Step[*ociScope]{
			{Run: r.reconcileStorage},
			{Run: r.reconcileSource, Owns: []string{sourcev1.FetchFailedCondition}},
			{Run: r.reconcileArtifact, Owns: []string{sourcev1.StorageOperationFailedCondition}},
		},
		Finalize:      r.reconcileDelete,
		Release:       func(s *ociScope) { s.tmp.remove() },
		Forget:        func(key types.NamespacedName) { r.authCaches.Delete(key) },
		JitterPercent: r.JitterPercent,
		RateLimiter:   requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&sourcev1.OCIRepository{}, builder.WithPredicates(predicates.SpecOrRequest())).
		WithOptions(r.runtime.ControllerOptions(r.Concurrent)).
		Complete(r)
}

// Reconcile brings one OCIRepository's artifact up to date with its registry.
func (r *OCIRepositoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.runtime.Reconcile(ctx, req)
}

// reconcileStorage checks the recorded artifact against storage; a missing or corrupt one is
// pulled again.
// Sets: ArtifactInStorage (False while it is pulled again).
func (r *OCIRepositoryReconciler) reconcileStorage(ctx context.Context, s *ociScope) error {
	s.rebuild = checkStored(ctx, r.Storage, s.Object, &s.Object.Status.Artifact, "pulling it again")
	return nil
}

// reconcileDelete removes the object's artifacts; the runtime then releases the finalizer.
func (r *OCIRepositoryReconciler) reconcileDelete(ctx context.Context, s *ociScope) error {
	obj := s.Object
	if err := r.Storage.RemoveAll(sourcev1.OCIRepositoryKind, obj.Namespace, obj.Name); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("removed artifacts of deleted OCIRepository")
	return nil
}

// authCacheFor is the object's auth cache for the credential, a new one when the credential
// changed.
func (r *OCIRepositoryReconciler) authCacheFor(key types.NamespacedName, cred *oci.Credential) auth.Cache {
	id := ""
	if cred != nil {
		h := sha256.New()
		fmt.Fprintf(h, "%q %q %q", cred.Username, cred.Password, cred.IdentityToken)
		id = hex.EncodeToString(h.Sum(nil))
	}
	if v, ok := r.authCaches.Load(key); ok && v.(*authCache).id == id {
		return v.(*authCache).cache
	}
	c := &authCache{id: id, cache: auth.NewCache()}
	r.authCaches.Store(key, c)
	return c.cache
}
