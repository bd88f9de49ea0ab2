// Package event holds the event.toolkit.fluxcd.io/v1beta1 Event: the JSON document that every
// controller POSTs to notification-controller, and that notification-controller forwards to
// generic webhooks.
// +kubebuilder:object:generate=true
package event
