package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// RepoRoot returns the repository root: the nearest directory at or above the working
// directory that holds go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.work found above the working directory")
		}
		dir = parent
	}
}

// BinaryAssetsDir returns the directory holding etcd and kube-apiserver: $KUBEBUILDER_ASSETS
// when set, else the repository's bin/.
func BinaryAssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin")
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("testenv: %s not found in %s; run `make control-plane` first", name, dir)
		}
	}
	return dir, nil
}

// FreeAddr returns a 127.0.0.1 address with a port the kernel just reported free, for a child
// process that must be told its listen address.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
