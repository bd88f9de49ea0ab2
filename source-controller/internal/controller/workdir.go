package controller

import (
	"encoding/json"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/source-controller/internal/storage"
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

// loadSidecar reads the JSON file name kept next to the artifact a into v; v is left as it is
// when there is none (or it cannot be read: then what it records is made again).
func loadSidecar(st *storage.Storage, a meta.Artifact, name string, v any) {
	if p, err := st.Sidecar(a, name); err == nil {
		if data, err := os.ReadFile(p); err == nil {
			_ = json.Unmarshal(data, v)
		}
	}
}

// saveSidecar writes v as the JSON file name next to the artifact a.
func saveSidecar(st *storage.Storage, a meta.Artifact, name string, v any) error {
	p, err := st.Sidecar(a, name)
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}
