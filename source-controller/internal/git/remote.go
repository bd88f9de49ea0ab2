package git

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
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
		if err := updateSubmodules(ctx, wt, auth, int(gogit.DefaultSubmoduleRecursionDepth)); err != nil {
			return wrap("updating submodules", err, auth)
		}
	}
	return nil
}

// updateSubmodules initializes and checks out the submodules recorded in wt, and theirs, down
// to depth levels. Each is fetched with the parent's CA, client certificate and proxy, and
// with its credentials only from the host they were given for: a .gitmodules that names
// another host never receives them.
func updateSubmodules(ctx context.Context, wt *gogit.Worktree, auth *Auth, depth int) error {
	if depth <= 0 {
		return nil
	}
	subs, err := wt.Submodules()
	if err != nil {
		return err
	}
	for _, sub := range subs {
		name := sub.Config().Name
		if err := sub.Init(); err != nil && !errors.Is(err, gogit.ErrSubmoduleAlreadyInitialized) {
			return fmt.Errorf("submodule '%s': %w", name, err)
		}
		st, err := sub.Status()
		if err != nil {
			return fmt.Errorf("submodule '%s': %w", name, err)
		}
		r, err := sub.Repository()
		if err != nil {
			return fmt.Errorf("submodule '%s': %w", name, err)
		}
		remote, err := r.Remote(gogit.DefaultRemoteName)
		if err != nil {
			return fmt.Errorf("submodule '%s': %w", name, err)
		}
		url := remote.Config().URLs[0]
		fetch := &gogit.FetchOptions{
			RemoteName: gogit.DefaultRemoteName, CABundle: auth.CABundle, ClientCert: auth.TLSCert, ClientKey: auth.TLSKey,
			ProxyOptions: auth.Proxy,
		}
		if SameHost(auth.URL, url) {
			fetch.Auth = auth.Method
		}
		if err := r.FetchContext(ctx, fetch); err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
			return fmt.Errorf("submodule '%s': fetching %s: %w", name, redact.URL(url), err)
		}
		if _, err := r.Object(plumbing.AnyObject, st.Expected); err != nil {
			// A commit no branch points at, still reachable by its hash on the server.
			fetch.RefSpecs = []config.RefSpec{config.RefSpec("+" + st.Expected.String() + ":" + st.Expected.String())}
			if err := r.FetchContext(ctx, fetch); err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
				return fmt.Errorf("submodule '%s': fetching commit %s from %s: %w", name, st.Expected, redact.URL(url), err)
			}
		}
		subWT, err := r.Worktree()
		if err != nil {
			return fmt.Errorf("submodule '%s': %w", name, err)
		}
		if err := subWT.Checkout(&gogit.CheckoutOptions{Hash: st.Expected, Force: true}); err != nil {
			return fmt.Errorf("submodule '%s': checking out %s: %w", name, st.Expected, err)
		}
		if err := updateSubmodules(ctx, subWT, auth, depth-1); err != nil {
			return err
		}
	}
	return nil
}

// SameHost reports whether two Git URLs (URL or scp-like 'user@host:path') name the same host
// and port.
func SameHost(a, b string) bool {
	ha, hb := hostOf(a), hostOf(b)
	return ha != "" && strings.EqualFold(ha, hb)
}

func hostOf(u string) string {
	if parsed, err := neturl.Parse(u); err == nil && parsed.Host != "" {
		return parsed.Host
	}
	// scp-like: [user@]host:path
	if i := strings.Index(u, ":"); i > 0 && !strings.Contains(u[:i], "/") {
		host := u[:i]
		if at := strings.LastIndex(host, "@"); at >= 0 {
			host = host[at+1:]
		}
		return host
	}
	return ""
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
