package git

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"

	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// DefaultBranch is checked out when a GitRepository names no ref.
const DefaultBranch = "master"

// Target is a ref resolved against a remote's references.
type Target struct {
	// RefName is what to clone: a branch, tag or full reference; empty for a bare commit.
	RefName plumbing.ReferenceName
	// Commit is the commit to check out; for branches, tags and names it comes from the
	// remote's references.
	Commit string
	// Revision is Flux's revision string, for example 'main@sha1:<hex>'.
	Revision string
	// Shallow tells whether a depth-1 clone of RefName reaches Commit.
	Shallow bool
}

// ErrRefNotFound is returned when the remote has no matching reference.
var ErrRefNotFound = errors.New("reference not found")

// Resolve picks the commit a GitRepository ref designates among a remote's references, with
// Flux's precedence: commit, name, semver, tag, branch (default 'master'). Annotated tags are
// peeled to their commit.
func Resolve(ref *sourcev1.GitRepositoryRef, refs []*plumbing.Reference) (Target, error) {
	if ref == nil {
		ref = &sourcev1.GitRepositoryRef{}
	}
	index := map[plumbing.ReferenceName]string{}
	for _, r := range refs {
		if r.Type() == plumbing.HashReference {
			index[r.Name()] = r.Hash().String()
		}
	}
	lookupTag := func(tag string) (string, bool) {
		name := plumbing.NewTagReferenceName(tag)
		if peeled, ok := index[name+"^{}"]; ok {
			return peeled, true
		}
		h, ok := index[name]
		return h, ok
	}

	switch {
	case ref.Commit != "" && ref.Branch == "" && ref.Name == "" && ref.Tag == "" && ref.SemVer == "":
		return Target{Commit: ref.Commit, Revision: revision("", ref.Commit)}, nil
	case ref.Name != "":
		name := plumbing.ReferenceName(ref.Name)
		h, ok := index[name+"^{}"]
		if !ok {
			h, ok = index[name]
		}
		if !ok {
			return Target{}, fmt.Errorf("%w: %s", ErrRefNotFound, ref.Name)
		}
		return Target{RefName: name, Commit: h, Revision: revision(ref.Name, h), Shallow: true}, nil
	case ref.SemVer != "":
		return resolveSemver(ref.SemVer, index, lookupTag)
	case ref.Tag != "":
		h, ok := lookupTag(ref.Tag)
		if !ok {
			return Target{}, fmt.Errorf("%w: tag '%s'", ErrRefNotFound, ref.Tag)
		}
		return Target{RefName: plumbing.NewTagReferenceName(ref.Tag), Commit: h, Revision: revision(ref.Tag, h), Shallow: true}, nil
	default:
		branch := ref.Branch
		if branch == "" {
			branch = DefaultBranch
		}
		h, ok := index[plumbing.NewBranchReferenceName(branch)]
		if !ok {
			return Target{}, fmt.Errorf("%w: branch '%s'", ErrRefNotFound, branch)
		}
		t := Target{RefName: plumbing.NewBranchReferenceName(branch), Commit: h, Revision: revision(branch, h), Shallow: true}
		if ref.Commit != "" {
			// A pinned commit on a branch: clone the branch with history, check out the commit.
			t.Commit, t.Revision, t.Shallow = ref.Commit, revision(branch, ref.Commit), false
		}
		return t, nil
	}
}

func resolveSemver(constraint string, index map[plumbing.ReferenceName]string, lookupTag func(string) (string, bool)) (Target, error) {
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return Target{}, fmt.Errorf("semver range '%s': %w", constraint, err)
	}
	type candidate struct {
		tag string
		v   *semver.Version
	}
	var matches []candidate
	for name := range index {
		if !name.IsTag() || strings.HasSuffix(string(name), "^{}") {
			continue
		}
		tag := strings.TrimPrefix(string(name), "refs/tags/") // not Short(), which stops at a space
		v, err := semver.NewVersion(tag)
		if err != nil || !c.Check(v) {
			continue
		}
		matches = append(matches, candidate{tag, v})
	}
	if len(matches) == 0 {
		return Target{}, fmt.Errorf("%w: no tag matches semver range '%s'", ErrRefNotFound, constraint)
	}
	// Highest version first; between equal versions ("v1.0.0" and "1.0.0") the lexically
	// smaller tag, so the choice never depends on map order.
	sort.Slice(matches, func(i, j int) bool {
		if cmp := matches[i].v.Compare(matches[j].v); cmp != 0 {
			return cmp > 0
		}
		return matches[i].tag < matches[j].tag
	})
	best := matches[0]
	h, ok := lookupTag(best.tag)
	if !ok {
		return Target{}, fmt.Errorf("%w: tag '%s'", ErrRefNotFound, best.tag)
	}
	return Target{RefName: plumbing.NewTagReferenceName(best.tag), Commit: h, Revision: revision(best.tag, h), Shallow: true}, nil
}

// revision formats Flux's revision: '<ref>@sha1:<hex>', or 'sha1:<hex>' for a bare commit.
func revision(ref, commit string) string {
	algo := "sha1"
	if len(commit) == 64 {
		algo = "sha256"
	}
	if ref == "" {
		return algo + ":" + commit
	}
	return ref + "@" + algo + ":" + commit
}
