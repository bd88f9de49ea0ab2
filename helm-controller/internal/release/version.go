package release

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// digestPrefix is how many hex digits of a digest a chart version carries.
const digestPrefix = 12

// VersionWithDigest is the chart version a release records for a chart from an OCIRepository
// at revision ('<tag>@sha256:<hex>' or 'sha256:<hex>'): '<version>+<12 hex of the digest>',
// appended after a '.' to build metadata the version already has. A revision without a
// digest leaves the version as it is.
func VersionWithDigest(version, revision string) (string, error) {
	digest := revision
	if i := strings.LastIndex(revision, "@"); i >= 0 {
		digest = revision[i+1:]
	}
	_, hex, ok := strings.Cut(digest, ":")
	if !ok || len(hex) < digestPrefix {
		return version, nil
	}
	v, err := semver.StrictNewVersion(version)
	if err != nil {
		return "", fmt.Errorf("the chart version '%s' is not semver: %w", version, err)
	}
	md := hex[:digestPrefix]
	if v.Metadata() != "" {
		md = v.Metadata() + "." + md
	}
	out, err := v.SetMetadata(md)
	if err != nil {
		return "", err
	}
	return out.String(), nil
}
