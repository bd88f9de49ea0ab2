// Package v1 holds the notification.toolkit.fluxcd.io/v1 API: the Receiver kind, which turns
// Git provider and registry webhooks into reconcile requests. It imports only
// k8s.io/apimachinery.
// +kubebuilder:object:generate=true
// +groupName=notification.toolkit.fluxcd.io
package v1
