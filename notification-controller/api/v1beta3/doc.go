// Package v1beta3 holds the notification.toolkit.fluxcd.io/v1beta3 API: Alert and Provider,
// static objects that route events to chat, webhooks and Git commit statuses. It imports only
// k8s.io/apimachinery.
// +kubebuilder:object:generate=true
// +groupName=notification.toolkit.fluxcd.io
package v1beta3
