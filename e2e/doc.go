// Package e2e holds the acceptance tests that run against the real control plane: the API
// contract (CRD schemas, defaults, validation) and the real controller binaries.
package e2e
