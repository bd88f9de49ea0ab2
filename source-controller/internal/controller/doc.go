// Package controller holds source-controller's reconcilers. Each kind has a skeleton file
// (<kind>_controller.go) and one file per concern (fetch, artifact, status).
package controller
