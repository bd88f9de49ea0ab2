//go:build tools

// Package kwok pins kwok, which simulates nodes and pods for the e2e control plane.
package kwok

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
