// Package v2 holds the helm.toolkit.fluxcd.io/v2 API: the HelmRelease kind, whose JSON wire
// format equals Flux's. It imports only k8s.io/apimachinery.
// +kubebuilder:object:generate=true
// +groupName=helm.toolkit.fluxcd.io
package v2
