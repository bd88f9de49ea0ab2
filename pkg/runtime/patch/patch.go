package patch

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StatusPatcher remembers an object as it was read and patches the differences later.
type StatusPatcher struct {
	client client.Client
	before client.Object
}

// NewStatusPatcher snapshots obj. Call it right after the object is read.
func NewStatusPatcher(obj client.Object, c client.Client) *StatusPatcher {
	return &StatusPatcher{client: c, before: obj.DeepCopyObject().(client.Object)}
}

// Patch sends what changed in obj since the snapshot: metadata and spec first, then status.
// On return obj holds the server's copy, and the snapshot is renewed, so Patch can be called
// again within the same reconcile (for example to publish progress).
func (p *StatusPatcher) Patch(ctx context.Context, obj client.Object) error {
	desired, err := statusOf(obj)
	if err != nil {
		return err
	}

	mainPatch := client.MergeFrom(p.before)
	if changed, err := hasChanges(mainPatch, obj, true); err != nil {
		return err
	} else if changed {
		if err := p.client.Patch(ctx, obj, mainPatch); err != nil {
			return fmt.Errorf("patching %s: %w", client.ObjectKeyFromObject(obj), err)
		}
		// The server's response carries the old status; put the desired one back.
		if err := setStatus(obj, desired); err != nil {
			return err
		}
	}

	serverState := obj.DeepCopyObject().(client.Object)
	if err := setStatus(serverState, mustStatus(p.before)); err != nil {
		return err
	}
	statusPatch := client.MergeFrom(serverState)
	if changed, err := hasChanges(statusPatch, obj, false); err != nil {
		return err
	} else if changed {
		if err := p.client.Status().Patch(ctx, obj, statusPatch); err != nil {
			return fmt.Errorf("patching status of %s: %w", client.ObjectKeyFromObject(obj), err)
		}
	}
	p.before = obj.DeepCopyObject().(client.Object)
	return nil
}

// hasChanges reports whether the merge patch has anything in it besides (or, for the status
// patch, only) the status field.
func hasChanges(patch client.Patch, obj client.Object, ignoreStatus bool) (bool, error) {
	data, err := patch.Data(obj)
	if err != nil {
		return false, fmt.Errorf("computing patch: %w", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		return false, err
	}
	if ignoreStatus {
		delete(fields, "status")
	}
	return len(fields) > 0, nil
}

func statusOf(obj client.Object) (any, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T: %w", obj, err)
	}
	return u["status"], nil
}

func mustStatus(obj client.Object) any {
	s, _ := statusOf(obj)
	return s
}

func setStatus(obj client.Object, status any) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("converting %T: %w", obj, err)
	}
	if status == nil {
		delete(u, "status")
	} else {
		u["status"] = status
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, obj); err != nil {
		return fmt.Errorf("restoring status of %T: %w", obj, err)
	}
	return nil
}
