package oci

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/Masterminds/semver/v3"
)

// ErrNoMatchingTag: no tag satisfies the range.
var ErrNoMatchingTag = errors.New("no tag matches")

// ErrInvalidRange marks a range or filter that can never match: it is the spec that is wrong.
var ErrInvalidRange = errors.New("invalid semver range")

// SelectTag returns the tag holding the highest version that constraint allows, among the
// tags that match filter (a regular expression; all tags when empty). Tags that are not
// versions ('latest', 'main-abc123') are skipped; a leading 'v' is accepted, as Flux does.
// Pre-releases only match a range that names one, as in Masterminds' semantics.
func SelectTag(tags []string, constraint, filter string) (string, error) {
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", fmt.Errorf("%w '%s': %v", ErrInvalidRange, constraint, err)
	}
	var re *regexp.Regexp
	if filter != "" {
		if re, err = regexp.Compile(filter); err != nil {
			return "", fmt.Errorf("%w: semverFilter '%s' is not a regular expression: %v", ErrInvalidRange, filter, err)
		}
	}
	var best *semver.Version
	var bestTag string
	for _, tag := range tags {
		if re != nil && !re.MatchString(tag) {
			continue
		}
		v, err := semver.NewVersion(tag)
		if err != nil || !c.Check(v) {
			continue
		}
		// Equal versions ('1.0.0' and 'v1.0.0'): the lexically greater tag, so the choice
		// does not depend on the registry's listing order.
		if best == nil || v.GreaterThan(best) || (v.Equal(best) && tag > bestTag) {
			best, bestTag = v, tag
		}
	}
	if best == nil {
		if filter != "" {
			return "", fmt.Errorf("%w '%s' with filter '%s' among %d tags", ErrNoMatchingTag, constraint, filter, len(tags))
		}
		return "", fmt.Errorf("%w '%s' among %d tags", ErrNoMatchingTag, constraint, len(tags))
	}
	return bestTag, nil
}
