package controller

import (
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// workDir is a reconcile's private scratch directory, removed when the reconcile ends.
type workDir struct{ root string }

func newWorkDir(parent string, obj client.Object) (*workDir, error) {
	dir, err := os.MkdirTemp(parent, obj.GetNamespace()+"-"+obj.GetName()+"-")
	if err != nil {
		return nil, err
	}
	return &workDir{root: dir}, nil
}

func (w *workDir) path(name string) string { return filepath.Join(w.root, name) }

// remove deletes the directory; a nil workDir (never created) is a no-op.
func (w *workDir) remove() {
	if w != nil {
		_ = os.RemoveAll(w.root)
	}
}
