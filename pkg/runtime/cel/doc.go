// Package cel compiles and evaluates the CEL expressions users write into Driftless objects
// (health checks, dependency readiness, webhook filters) with a cost limit, so that no
// expression can hold a worker, and a bounded cache of compiled programs.
package cel
