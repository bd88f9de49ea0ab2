// Package app turns a controller's main.go into a few lines: Options binds Flux's common flags
// (same names and defaults as fluxcd/pkg/runtime), and Run builds the logger, the manager with
// its metrics, health and leader election, the event recorder, and runs until SIGTERM.
package app
