// Package meta holds the API types that every Driftless API group shares: object references,
// the artifact record, the reconcile-request handshake, and the condition vocabulary that
// kstatus and the flux CLI read. It imports only k8s.io/apimachinery.
// +kubebuilder:object:generate=true
package meta
