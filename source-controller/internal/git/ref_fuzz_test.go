package git

import (
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// FuzzResolve checks, for any ref and any set of remote references, that what Resolve picks
// is a commit the remote advertised (or the one spec.ref pinned), under a reference the
// remote has, with a revision that names that commit; and that the pick does not depend on
// the order the remote listed its references in.
func FuzzResolve(f *testing.F) {
	names := "refs/heads/main\nrefs/heads/master\nrefs/tags/v1.0.0\nrefs/tags/v1.0.0^{}\nrefs/tags/2.1.0\nrefs/tags/2.2.0-rc.1\nrefs/pull/420/head"
	f.Add("", "", "", "", "", names)
	f.Add("main", "", "", "", "", names)
	f.Add("main", "2.1.0", ">=1.0.0", "", "", names)
	f.Add("", "", "1.x", "", "", names)
	f.Add("", "v1.0.0", "", "", "", names)
	f.Add("", "", "", "refs/pull/420/head", "", names)
	f.Add("", "", "", "", hV2, names)
	f.Add("main", "", "", "", hV1, names)
	f.Add("", "", ">= 1.0 <", "", "", names)
	f.Add("", "", "*", "", "", "refs/tags/v1.0.0\nrefs/tags/1.0.0")
	f.Fuzz(func(t *testing.T, branch, tag, semverRange, name, commit, list string) {
		var refs []*plumbing.Reference
		hashes := map[string]bool{}
		index := map[plumbing.ReferenceName]bool{}
		for _, n := range strings.Split(list, "\n") {
			sum := sha1.Sum([]byte(n))
			h := hex.EncodeToString(sum[:])
			refs = append(refs, plumbing.NewHashReference(plumbing.ReferenceName(n), plumbing.NewHash(h)))
			hashes[h] = true
			index[plumbing.ReferenceName(n)] = true
		}
		ref := &sourcev1.GitRepositoryRef{Branch: branch, Tag: tag, SemVer: semverRange, Name: name, Commit: commit}
		got, err := Resolve(ref, refs)
		if err != nil {
			return
		}
		if got.Commit == "" || !strings.HasSuffix(got.Revision, ":"+got.Commit) {
			t.Fatalf("Resolve(%+v) = %+v: the revision does not name the commit", ref, got)
		}
		if got.Commit != commit && !hashes[got.Commit] {
			t.Fatalf("Resolve(%+v) = %+v: a commit the remote did not advertise", ref, got)
		}
		if got.RefName != "" && !index[got.RefName] && !index[got.RefName+"^{}"] {
			t.Fatalf("Resolve(%+v) = %+v: a reference the remote does not have", ref, got)
		}
		reversed := slices.Clone(refs)
		slices.Reverse(reversed)
		if again, err := Resolve(ref, reversed); err != nil || again != got {
			t.Fatalf("Resolve(%+v) = %+v, and %+v (%v) with the references in another order", ref, got, again, err)
		}
	})
}
