// Package v1 holds the kustomize.toolkit.fluxcd.io/v1 API: the Kustomization kind, whose JSON
// wire format equals Flux's. It imports only k8s.io/apimachinery.
// +kubebuilder:object:generate=true
// +groupName=kustomize.toolkit.fluxcd.io
package v1
