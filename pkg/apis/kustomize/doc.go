// Package kustomize holds the kustomize-related API types that the Kustomization and HelmRelease
// kinds share: patches, target selectors, image overrides and CEL health checks.
// +kubebuilder:object:generate=true
package kustomize
