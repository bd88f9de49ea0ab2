package git

import (
	"errors"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

const (
	hMaster = "1111111111111111111111111111111111111111"
	hMain   = "2222222222222222222222222222222222222222"
	hV1     = "3333333333333333333333333333333333333333"
	hV1Tag  = "4444444444444444444444444444444444444444" // annotated tag object
	hV2     = "5555555555555555555555555555555555555555"
	hV2rc   = "6666666666666666666666666666666666666666"
	hPR     = "7777777777777777777777777777777777777777"
)

func refs() []*plumbing.Reference {
	mk := func(name, hash string) *plumbing.Reference {
		return plumbing.NewHashReference(plumbing.ReferenceName(name), plumbing.NewHash(hash))
	}
	return []*plumbing.Reference{
		plumbing.NewSymbolicReference("HEAD", "refs/heads/main"),
		mk("refs/heads/master", hMaster),
		mk("refs/heads/main", hMain),
		mk("refs/tags/v1.0.0", hV1Tag),
		mk("refs/tags/v1.0.0^{}", hV1),
		mk("refs/tags/2.1.0", hV2),
		mk("refs/tags/2.2.0-rc.1", hV2rc),
		mk("refs/tags/not-semver", hMain),
		mk("refs/pull/420/head", hPR),
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name     string
		ref      *sourcev1.GitRepositoryRef
		revision string
		refName  string
		shallow  bool
		err      error
	}{
		{"no ref is master", nil, "master@sha1:" + hMaster, "refs/heads/master", true, nil},
		{"branch", &sourcev1.GitRepositoryRef{Branch: "main"}, "main@sha1:" + hMain, "refs/heads/main", true, nil},
		{"annotated tag is peeled", &sourcev1.GitRepositoryRef{Tag: "v1.0.0"}, "v1.0.0@sha1:" + hV1, "refs/tags/v1.0.0", true, nil},
		{"lightweight tag", &sourcev1.GitRepositoryRef{Tag: "2.1.0"}, "2.1.0@sha1:" + hV2, "refs/tags/2.1.0", true, nil},
		{"semver picks highest", &sourcev1.GitRepositoryRef{SemVer: ">=1.0.0"}, "2.1.0@sha1:" + hV2, "refs/tags/2.1.0", true, nil},
		{"semver range", &sourcev1.GitRepositoryRef{SemVer: "1.x"}, "v1.0.0@sha1:" + hV1, "refs/tags/v1.0.0", true, nil},
		{"semver prerelease", &sourcev1.GitRepositoryRef{SemVer: ">=2.2.0-0"}, "2.2.0-rc.1@sha1:" + hV2rc, "refs/tags/2.2.0-rc.1", true, nil},
		{"semver beats tag and branch", &sourcev1.GitRepositoryRef{SemVer: "1.x", Tag: "2.1.0", Branch: "main"}, "v1.0.0@sha1:" + hV1, "refs/tags/v1.0.0", true, nil},
		{"tag beats branch", &sourcev1.GitRepositoryRef{Tag: "2.1.0", Branch: "main"}, "2.1.0@sha1:" + hV2, "refs/tags/2.1.0", true, nil},
		{"name", &sourcev1.GitRepositoryRef{Name: "refs/pull/420/head"}, "refs/pull/420/head@sha1:" + hPR, "refs/pull/420/head", true, nil},
		{"name beats semver", &sourcev1.GitRepositoryRef{Name: "refs/heads/main", SemVer: "1.x"}, "refs/heads/main@sha1:" + hMain, "refs/heads/main", true, nil},
		{"commit alone", &sourcev1.GitRepositoryRef{Commit: hV2}, "sha1:" + hV2, "", false, nil},
		{"commit on branch", &sourcev1.GitRepositoryRef{Branch: "main", Commit: hV1}, "main@sha1:" + hV1, "refs/heads/main", false, nil},
		{"missing branch", &sourcev1.GitRepositoryRef{Branch: "nope"}, "", "", false, ErrRefNotFound},
		{"missing tag", &sourcev1.GitRepositoryRef{Tag: "v9"}, "", "", false, ErrRefNotFound},
		{"no semver match", &sourcev1.GitRepositoryRef{SemVer: ">=5.0.0"}, "", "", false, ErrRefNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.ref, refs())
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Revision != tt.revision || string(got.RefName) != tt.refName || got.Shallow != tt.shallow {
				t.Fatalf("got %+v, want revision %s ref %s shallow %v", got, tt.revision, tt.refName, tt.shallow)
			}
		})
	}
	if _, err := Resolve(&sourcev1.GitRepositoryRef{SemVer: "not a range"}, refs()); err == nil {
		t.Fatal("an invalid semver range must be an error")
	}
}

func TestSameHost(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"https://github.com/org/app.git", "https://github.com/org/lib.git", true},
		{"https://GitHub.com/org/app.git", "https://github.com/org/lib", true},
		{"https://git:hunter2@github.com/org/app", "https://github.com/org/lib", true},
		{"https://github.com/org/app", "https://gitlab.com/org/lib", false},
		{"https://127.0.0.1:8080/org/app", "https://127.0.0.1:9090/org/lib", false},
		{"https://github.com/org/app", "http://github.com.evil.example/org/lib", false},
		{"ssh://git@github.com/org/app", "git@github.com:org/lib.git", true},
		{"ssh://git@github.com/org/app", "git@gitlab.com:org/lib.git", false},
		{"https://github.com/org/app", "../lib.git", false},
		{"", "", false},
	} {
		if got := SameHost(tt.a, tt.b); got != tt.want {
			t.Errorf("SameHost(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
