// Command bench measures Driftless's controllers as processes, the way an operator would see
// them: it starts the real control plane, real servers on 127.0.0.1 and the real controller
// binaries, runs each scenario against a fresh controller process, and records wall time, the
// controller's peak RSS and CPU seconds, and the API requests it made. Results go to a JSON
// file and a markdown table (median of -runs runs).
package main
