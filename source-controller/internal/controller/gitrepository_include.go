package controller

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/artifact"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// includeIndexKey indexes GitRepositories by the names of the GitRepositories they include.
const includeIndexKey = ".spec.include.repository.name"

// Reasons of the IncludeUnavailable condition.
const (
	includeNotFoundReason   = "NotFound"
	includeNoArtifactReason = "NoArtifact"
	includeCopyFailedReason = "CopyFailed"
)

func indexIncludes(obj client.Object) []string {
	repo := obj.(*sourcev1.GitRepository)
	names := make([]string, 0, len(repo.Spec.Include))
	for _, inc := range repo.Spec.Include {
		names = append(names, inc.GitRepositoryRef.Name)
	}
	return names
}

// includersOf maps a GitRepository to the GitRepositories that include it.
func (r *GitRepositoryReconciler) includersOf(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &sourcev1.GitRepositoryList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{includeIndexKey: obj.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i, item := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: item.Namespace, Name: item.Name}}
	}
	return reqs
}

// artifactChanged passes the updates that give a source (an included GitRepository, a
// HelmChart's source) a new artifact, and its deletion.
var artifactChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc:  predicates.ArtifactUpdated,
}

// reconcileIncludes finds the current artifacts of spec.include, in order.
// Fails with: IncludeUnavailable (NotFound, NoArtifact).
func (r *GitRepositoryReconciler) reconcileIncludes(ctx context.Context, s *gitScope) error {
	obj := s.Object
	artifacts := make([]*meta.Artifact, 0, len(obj.Spec.Include))
	for _, inc := range obj.Spec.Include {
		key := types.NamespacedName{Namespace: obj.Namespace, Name: inc.GitRepositoryRef.Name}
		dep := &sourcev1.GitRepository{}
		if err := r.Get(ctx, key, dep); err != nil {
			if apierrors.IsNotFound(err) {
				return lifecycle.Failed(sourcev1.IncludeUnavailableCondition, includeNotFoundReason,
					fmt.Errorf("included GitRepository '%s' not found", key))
			}
			return err
		}
		if dep.Status.Artifact == nil {
			return lifecycle.Failed(sourcev1.IncludeUnavailableCondition, includeNoArtifactReason,
				fmt.Errorf("included GitRepository '%s' has no artifact yet", key))
		}
		artifacts = append(artifacts, dep.Status.Artifact.DeepCopy())
	}
	s.included = artifacts
	return nil
}

// includesCurrent reports whether the artifact was built with these includes.
func includesCurrent(obj *sourcev1.GitRepository, artifacts []*meta.Artifact) bool {
	if len(obj.Spec.Include) != len(obj.Status.ObservedInclude) || len(artifacts) != len(obj.Status.IncludedArtifacts) {
		return false
	}
	for i := range obj.Spec.Include {
		if obj.Spec.Include[i] != obj.Status.ObservedInclude[i] || !obj.Status.IncludedArtifacts[i].HasDigest(artifacts[i].Digest) {
			return false
		}
	}
	return true
}

// copyIncludes extracts each included artifact and copies its fromPath into toPath of dir.
// Fails with: IncludeUnavailable (CopyFailed).
func (r *GitRepositoryReconciler) copyIncludes(obj *sourcev1.GitRepository, artifacts []*meta.Artifact, dir string, tmp *workDir) error {
	for i, inc := range obj.Spec.Include {
		if err := r.copyInclude(inc, artifacts[i], dir, tmp.path(fmt.Sprintf("include-%d", i))); err != nil {
			return lifecycle.Failed(sourcev1.IncludeUnavailableCondition, includeCopyFailedReason,
				fmt.Errorf("including GitRepository '%s': %w", inc.GitRepositoryRef.Name, err))
		}
	}
	return nil
}

func (r *GitRepositoryReconciler) copyInclude(inc sourcev1.GitRepositoryInclude, a *meta.Artifact, dir, scratch string) error {
	// The bytes about to be unpacked are the ones the included GitRepository recorded.
	if err := r.Storage.Verify(*a); err != nil {
		return fmt.Errorf("the artifact of revision '%s' does not match its digest, not included: %w", a.Revision, err)
	}
	file, err := r.Storage.LocalPath(*a)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("opening artifact: %w", err)
	}
	defer f.Close()
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return err
	}
	if err := artifact.ExtractTarGz(f, scratch, r.Storage.Limits); err != nil {
		return err
	}
	from, err := within(scratch, inc.GetFromPath())
	if err != nil {
		return err
	}
	to, err := within(dir, inc.GetToPath())
	if err != nil {
		return err
	}
	if _, err := os.Stat(from); err != nil {
		return fmt.Errorf("fromPath '%s' is not in the artifact", inc.GetFromPath())
	}
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	return copyTree(from, to)
}

// within joins a user-given path to root and resolves every link on the way as if root were
// the file system's root: '..' and links (absolute or relative, committed to the checkout)
// can never lead outside it, so what is deleted and written there stays in root.
func within(root, rel string) (string, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	return securejoin.SecureJoin(real, filepath.FromSlash(rel))
}

// copyTree copies regular files and directories from src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, _ := d.Info()
			return os.WriteFile(target, data, info.Mode().Perm())
		default:
			return errors.New("unexpected entry " + rel)
		}
	})
}
