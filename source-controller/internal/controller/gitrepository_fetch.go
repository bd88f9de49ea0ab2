package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/git"
	"github.com/driftless-dev/driftless/source-controller/internal/sourceignore"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
)

// fetchResult is what reconcileSource hands to reconcileArtifact.
type fetchResult struct {
	target git.Target
	// included are the artifacts of spec.include.
	included []*meta.Artifact
	// source is the tree to pack, or nil when the stored artifact is already current.
	source storage.Source
	// exclude applies Flux's exclusions, spec.ignore and the tree's .sourceignore files.
	exclude storage.Filter
	commit  *git.Commit
}

// reconcileStorage checks the recorded artifact against storage; a missing or corrupt one
// is rebuilt.
// Sets: ArtifactInStorage (False while it is rebuilt).
func (r *GitRepositoryReconciler) reconcileStorage(ctx context.Context, s *gitScope) error {
	s.rebuild = checkStored(ctx, r.Storage, s.Object, &s.Object.Status.Artifact, "rebuilding")
	return nil
}

// checkStored checks an object's recorded artifact against storage and reports whether it
// must be made again: there is none, or its file is missing or corrupt (then it is dropped
// from the status and ArtifactInStorage=False says so, ending with redo). A good one gets the
// current advertised URL, which may have changed since it was written.
// Sets: ArtifactInStorage (False while it is made again).
func checkStored(ctx context.Context, st *storage.Storage, obj conditions.Object, artifact **meta.Artifact, redo string) (rebuild bool) {
	a := *artifact
	if a == nil {
		return true
	}
	if err := st.Verify(*a); err != nil {
		ctrl.LoggerFrom(ctx).Info("stored artifact is missing or corrupt; "+redo, "path", a.Path, "reason", err.Error())
		conditions.MarkFalse(obj, sourcev1.ArtifactInStorageCondition, sourcev1.StatOperationFailedReason,
			"artifact for revision '%s' is missing or corrupt in storage; %s", a.Revision, redo)
		*artifact = nil
		return true
	}
	a.URL = st.URL(a.Path)
	return false
}

// reconcileSource asks the remote where the ref points and clones only when that commit (or
// the settings that shape the artifact) differ from the stored artifact.
// Fails with: FetchFailed (AuthenticationFailed, GitOperationFailed; Stalled for a semver
// range that cannot match), IncludeUnavailable (an include that cannot be copied).
func (r *GitRepositoryReconciler) reconcileSource(ctx context.Context, s *gitScope) error {
	obj := s.Object
	tmp, err := newWorkDir(r.TmpDir, obj)
	if err != nil {
		return fmt.Errorf("creating a work directory: %w", err)
	}
	s.tmp = tmp
	data, err := r.secretData(ctx, obj, obj.Spec.SecretRef)
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.AuthenticationFailedReason, err)
	}
	auth, err := git.AuthFromSecret(obj.Spec.URL, data, tmp.root)
	if err == nil && obj.Spec.ProxySecretRef != nil {
		var proxy map[string][]byte
		if proxy, err = r.secretData(ctx, obj, obj.Spec.ProxySecretRef); err == nil {
			err = auth.SetProxy(proxy)
		}
	}
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.AuthenticationFailedReason, err)
	}

	ctx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()

	refs, err := git.ListRefs(ctx, obj.Spec.URL, auth)
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.GitOperationFailedReason, err)
	}
	target, err := git.Resolve(obj.Spec.Reference, refs)
	if err != nil {
		err = fmt.Errorf("resolving ref: %w", err)
		if obj.Spec.Reference != nil && obj.Spec.Reference.SemVer != "" && !errors.Is(err, git.ErrRefNotFound) {
			return lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.GitOperationFailedReason, err)
		}
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.GitOperationFailedReason, err)
	}

	if !s.rebuild && artifactCurrent(obj, target.Revision) && includesCurrent(obj, s.included) {
		s.fetched = &fetchResult{target: target}
		return nil
	}

	dir := tmp.path("checkout")
	fetched, err := git.Fetch(ctx, obj.Spec.URL, dir, target, auth)
	if err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.GitOperationFailedReason, err)
	}
	result := &fetchResult{target: target, commit: &fetched.Commit, included: s.included}
	s.fetched = result
	if len(obj.Spec.Include) == 0 && !obj.Spec.RecurseSubmodules {
		// Pack straight from the object store: no checkout of files only to read them back.
		if err := prepareTree(obj, fetched, result); err != nil {
			return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.GitOperationFailedReason, err)
		}
		return nil
	}
	// Includes and submodules need the files on disk.
	if err := fetched.Checkout(ctx, auth, git.CloneOptions{
		RecurseSubmodules: obj.Spec.RecurseSubmodules,
		SparseCheckout:    obj.Spec.SparseCheckout,
	}); err != nil {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.GitOperationFailedReason, err)
	}
	if err := r.copyIncludes(obj, s.included, dir, tmp); err != nil {
		return err
	}
	matcher, err := sourceignore.NewMatcher(dir, obj.Spec.Ignore)
	if err != nil {
		return fmt.Errorf("reading ignore rules: %w", err)
	}
	result.source, result.exclude = storage.DirSource(dir), matcher.Excluded
	return nil
}

// artifactCurrent reports whether the stored artifact already holds revision, built with the
// current settings: then there is nothing to clone.
func artifactCurrent(obj *sourcev1.GitRepository, revision string) bool {
	a := obj.Status.Artifact
	if a == nil || a.Revision != revision {
		return false
	}
	s := obj.Status
	return equalPtr(s.ObservedIgnore, obj.Spec.Ignore) &&
		s.ObservedRecurseSubmodules == obj.Spec.RecurseSubmodules &&
		slices.Equal(s.ObservedSparseCheckout, obj.Spec.SparseCheckout)
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// secretData reads a Secret in the object's namespace from the API server (uncached), or
// returns nil when ref is nil.
func (r *GitRepositoryReconciler) secretData(ctx context.Context, obj *sourcev1.GitRepository, ref *meta.LocalObjectReference) (map[string][]byte, error) {
	return readSecret(ctx, r.APIReader, obj.Namespace, ref)
}

// readSecret reads a Secret of the namespace from the API server (uncached), or returns nil
// when ref is nil.
func readSecret(ctx context.Context, reader client.Reader, namespace string, ref *meta.LocalObjectReference) (map[string][]byte, error) {
	if ref == nil {
		return nil, nil
	}
	key := types.NamespacedName{Namespace: namespace, Name: ref.Name}
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret '%s' not found", key)
		}
		return nil, fmt.Errorf("reading secret '%s': %w", key, err)
	}
	return secret.Data, nil
}

// prepareTree sets up packing from the fetched commit's tree.
func prepareTree(obj *sourcev1.GitRepository, fetched *git.Fetched, result *fetchResult) error {
	tree, err := fetched.Tree()
	if err != nil {
		return fmt.Errorf("reading the tree of commit '%s': %w", fetched.Commit.Hash, err)
	}
	src := git.TreeSource{Tree: tree, Sparse: obj.Spec.SparseCheckout}
	ignoreFiles, err := src.IgnoreFiles(sourceignore.FileName)
	if err != nil {
		return fmt.Errorf("reading %s files: %w", sourceignore.FileName, err)
	}
	result.source = src
	result.exclude = sourceignore.NewMatcherFromFiles(obj.Spec.Ignore, ignoreFiles).Excluded
	return nil
}
