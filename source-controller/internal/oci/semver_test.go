package oci

import (
	"errors"
	"testing"
)

func TestSelectTag(t *testing.T) {
	tags := []string{"latest", "1.0.0", "v1.1.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "main-abc123", "1.2.0-dev"}
	for _, tc := range []struct {
		constraint, filter, want string
		err                      error
	}{
		{constraint: "1.x", want: "v1.1.0"},
		{constraint: ">=1.0.0", want: "2.0.0"},
		{constraint: ">=1.2.0-0 <2.0.0", want: "1.2.0-rc.1"},
		{constraint: ">=1.0.0-0", filter: "-dev$", want: "1.2.0-dev"},
		{constraint: ">=1.0.0", filter: "^1\\.0", want: "1.0.0"},
		{constraint: "3.x", err: ErrNoMatchingTag},
		{constraint: "not a range", err: ErrInvalidRange},
		{constraint: "*", filter: "(", err: ErrInvalidRange},
	} {
		got, err := SelectTag(tags, tc.constraint, tc.filter)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q %q: err %v, want %v", tc.constraint, tc.filter, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q %q: %q %v, want %q", tc.constraint, tc.filter, got, err, tc.want)
		}
	}
}
