package v1

import (
	"time"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// defaultTimeout is DefaultTimeout as a duration.
const defaultTimeout = 60 * time.Second

// timeoutOrDefault is a spec.timeout, or defaultTimeout when it is unset or not positive.
func timeoutOrDefault(d *meta.Duration) time.Duration {
	if d != nil && d.Duration > 0 {
		return d.Duration
	}
	return defaultTimeout
}

// GetTimeout returns spec.timeout, bounding each registry operation, or its default.
func (in *OCIRepository) GetTimeout() time.Duration { return timeoutOrDefault(in.Spec.Timeout) }

// GetTimeout returns spec.timeout, bounding a sync of the bucket, or its default.
func (in *Bucket) GetTimeout() time.Duration { return timeoutOrDefault(in.Spec.Timeout) }

// GetTimeout returns spec.timeout, bounding each of the repository's requests, or its default.
func (in *HelmRepository) GetTimeout() time.Duration { return timeoutOrDefault(in.Spec.Timeout) }
