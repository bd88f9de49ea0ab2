// Package storage keeps source-controller's artifacts on disk: it packs a directory into a
// deterministic tar.gz (same tree, same bytes), writes it atomically under
// '<kind>/<namespace>/<name>/', records its digest, verifies it on every reconcile, collects
// old artifacts, and serves the tree read-only over HTTP.
package storage
