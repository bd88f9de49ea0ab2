// Package controller holds kustomize-controller's Kustomization reconciler: one file per
// concern (source, apply, status) around the skeleton in kustomization_controller.go.
package controller
