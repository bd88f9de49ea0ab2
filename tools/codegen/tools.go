//go:build tools

// Package codegen pins the code generators that the Makefile builds into bin/.
package codegen

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
