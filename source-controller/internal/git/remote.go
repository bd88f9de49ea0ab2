package git

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/driftless-dev/driftless/pkg/runtime/redact"
)

// Commit is what was checked out.
type Commit struct {
	Hash     string
	Revision string
	// Subject is the first line of the commit message.
	Subject string
}

// ListRefs returns the remote's references, with annotated tags also listed peeled ('^{}').
// It is the cheap question asked before every clone.
func ListRefs(ctx context.Context, url string, auth *Auth) ([]*plumbing.Reference, error) {
	remote := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: gogit.DefaultRemoteName, URLs: []string{url}})
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{
		Auth:          auth.Method,
		CABundle:      auth.CABundle,
		ClientCert:    auth.TLSCert,
		ClientKey:     auth.TLSKey,
		PeelingOption: gogit.AppendPeeled,
		ProxyOptions:  auth.Proxy,
	})
	if err != nil {
		return nil, wrap("listing references of "+redact.URL(url), err, auth)
	}
	return refs, nil
}

// CloneOptions tune Clone.
type CloneOptions struct {
	RecurseSubmodules bool
	SparseCheckout    []string
}

// Fetched is a repository fetched into a directory, its commit not checked out yet.
type Fetched struct {
	repo   *gogit.Repository
	commit *object.Commit
	Commit Commit
}

// Fetch fetches target into dir without checking anything out. It fetches only what the ref
// needs: the one ref at depth 1 when the ref points at the commit, the ref with its history
// for a pinned commit on a branch, and every branch for a bare commit. It never depends on the
// remote's HEAD.
func Fetch(ctx context.Context, url, dir string, target Target, auth *Auth) (*Fetched, error) {
	repo, err := gogit.PlainInit(dir, false)
	if err != nil {
		return nil, err
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: gogit.DefaultRemoteName, URLs: []string{url}}); err != nil {
		return nil, err
	}
	fetch := &gogit.FetchOptions{
		RemoteName:   gogit.DefaultRemoteName,
		Auth:         auth.Method,
		CABundle:     auth.CABundle,
		ClientCert:   auth.TLSCert,
		ClientKey:    auth.TLSKey,
		Tags:         gogit.NoTags,
		ProxyOptions: auth.Proxy,
	}
	if target.RefName != "" {
		fetch.RefSpecs = []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", target.RefName, target.RefName))}
	} else {
		fetch.RefSpecs = []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}
	}
	if target.Shallow {
		fetch.Depth = 1
	}
	if err := repo.FetchContext(ctx, fetch); err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		return nil, wrap("fetching "+redact.URL(url), err, auth)
	}
	c, err := repo.CommitObject(plumbing.NewHash(target.Commit))
	if err != nil {
		return nil, fmt.Errorf("reading commit '%s': %w", target.Commit, err)
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return &Fetched{repo: repo, commit: c, Commit: Commit{Hash: c.Hash.String(), Revision: target.Revision, Subject: subject}}, nil
}

// Checkout writes the commit's files into the fetch directory.
func (f *Fetched) Checkout(ctx context.Context, auth *Auth, o CloneOptions) error {
	wt, err := f.repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.Checkout(&gogit.CheckoutOptions{Hash: f.commit.Hash, Force: true, SparseCheckoutDirectories: o.SparseCheckout}); err != nil {
		return wrap(fmt.Sprintf("checking out commit '%s'", f.Commit.Hash), err, auth)
	}
	if o.RecurseSubmodules {
		subs, err := wt.Submodules()
		if err != nil {
			return err
		}
		if err := subs.UpdateContext(ctx, &gogit.SubmoduleUpdateOptions{Init: true, RecurseSubmodules: gogit.DefaultSubmoduleRecursionDepth, Auth: auth.Method}); err != nil {
			return wrap("updating submodules", err, auth)
		}
	}
	return nil
}

// Tree returns the commit's tree, to be packed without a checkout.
func (f *Fetched) Tree() (*object.Tree, error) { return f.commit.Tree() }

// wrap adds context and removes every credential from the message.
func wrap(what string, err error, auth *Auth) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: timed out", what)
	}
	return redact.Error(fmt.Errorf("%s: %w", what, err), auth.Secrets...)
}
