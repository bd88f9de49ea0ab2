// Package v1 holds the source.toolkit.fluxcd.io/v1 API types: GitRepository, OCIRepository,
// HelmRepository, HelmChart and Bucket. The JSON wire format equals Flux's, so Flux manifests
// and the flux CLI work unchanged. It imports only k8s.io/apimachinery.
// +kubebuilder:object:generate=true
// +groupName=source.toolkit.fluxcd.io
package v1
