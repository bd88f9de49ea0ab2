// Package testenv starts the real control plane for tests: etcd and kube-apiserver built from
// the Go module proxy into the repository's bin/ (`make control-plane`), with Driftless's CRDs
// installed from manifests/crds. A package's TestMain starts it once with testenv.Main.
package testenv
