// Package values composes a HelmRelease's values as Flux does: each valuesFrom referent in
// order, then the inline values. What the values hold never reaches an error: a document that
// does not parse is named by its referent and key, not shown.
package values

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"helm.sh/helm/v4/pkg/strvals"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// ErrInvalid marks values that cannot be composed: a missing referent or key that is not
// optional, a document that is not a YAML map, a value that is not '--set' syntax.
var ErrInvalid = errors.New("invalid values")

// Compose reads refs from namespace with reader (the tenant's client, never the controller's
// own) and merges them in order, then inline: maps key by key, anything else replaced; a
// targetPath sets one value at that path as 'helm --set' (or '--set-literal') does.
func Compose(ctx context.Context, reader client.Reader, namespace string, refs []meta.ValuesReference, inline *runtime.RawExtension) (map[string]any, error) {
	result := map[string]any{}
	for _, ref := range refs {
		data, ok, err := read(ctx, reader, namespace, ref)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		where := fmt.Sprintf("key '%s' of %s '%s/%s'", ref.GetValuesKey(), ref.Kind, namespace, ref.Name)
		if ref.TargetPath == "" {
			doc := map[string]any{}
			if err := yaml.Unmarshal(data, &doc); err != nil {
				return nil, fmt.Errorf("%w: %s is not a YAML map of values", ErrInvalid, where)
			}
			result = Merge(result, doc)
			continue
		}
		set := ref.TargetPath + "=" + string(data)
		if ref.Literal {
			err = strvals.ParseLiteralInto(set, result)
		} else {
			err = strvals.ParseInto(set, result)
		}
		if err != nil {
			// The parser's message can quote the value: only its place is told.
			return nil, fmt.Errorf("%w: %s cannot be set at '%s' with '--set' syntax (literal: true sets it as one string)", ErrInvalid, where, ref.TargetPath)
		}
	}
	if inline != nil && len(inline.Raw) > 0 {
		doc := map[string]any{}
		if err := json.Unmarshal(inline.Raw, &doc); err != nil {
			return nil, fmt.Errorf("%w: spec.values is not a map", ErrInvalid)
		}
		result = Merge(result, doc)
	}
	return result, nil
}

// read returns the referent's value at its key; ok is false for an optional one that is absent.
func read(ctx context.Context, reader client.Reader, namespace string, ref meta.ValuesReference) (data []byte, ok bool, err error) {
	key := types.NamespacedName{Namespace: namespace, Name: ref.Name}
	found := false
	switch ref.Kind {
	case "ConfigMap":
		cm := &corev1.ConfigMap{}
		if err = reader.Get(ctx, key, cm); err == nil {
			if v, has := cm.Data[ref.GetValuesKey()]; has {
				data, found = []byte(v), true
			} else if v, has := cm.BinaryData[ref.GetValuesKey()]; has {
				data, found = v, true
			}
		}
	case "Secret":
		s := &corev1.Secret{}
		if err = reader.Get(ctx, key, s); err == nil {
			data, found = s.Data[ref.GetValuesKey()]
		}
	default:
		return nil, false, fmt.Errorf("%w: valuesFrom kind '%s' is not ConfigMap or Secret", ErrInvalid, ref.Kind)
	}
	switch {
	case apierrors.IsNotFound(err):
		if ref.Optional {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%w: %s '%s/%s' does not exist", ErrInvalid, ref.Kind, namespace, ref.Name)
	case err != nil:
		return nil, false, fmt.Errorf("reading %s '%s/%s': %w", ref.Kind, namespace, ref.Name, err)
	case !found && ref.Optional:
		return nil, false, nil
	case !found:
		return nil, false, fmt.Errorf("%w: %s '%s/%s' has no key '%s'", ErrInvalid, ref.Kind, namespace, ref.Name, ref.GetValuesKey())
	}
	return data, true, nil
}

// Merge returns a with b merged over it: maps merged key by key, any other value of b
// replacing a's. Neither is changed.
func Merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	maps.Copy(out, a)
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = Merge(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// Digest identifies composed values: sha256 of their JSON (keys sorted), as
// 'sha256:<hex>'.
func Digest(values map[string]any) string {
	if values == nil {
		values = map[string]any{} // no values and empty values are the same
	}
	data, err := json.Marshal(values)
	if err != nil {
		data = []byte(fmt.Sprint(values))
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
