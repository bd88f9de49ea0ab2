package values

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

func TestCompose(t *testing.T) {
	ctx := context.Background()
	objs := []runtime.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "base"}, Data: map[string]string{
			"values.yaml": "replicas: 1\nimage:\n  repository: podinfo\n  tag: 6.0.0\nlist: [a, b]\n",
			"prod.yaml":   "replicas: 3\nimage:\n  tag: 6.9.1\nlist: [c]\n",
			"count":       "7",
			"csv":         "a,b",
		}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "creds"}, Data: map[string][]byte{
			"values.yaml": []byte("auth:\n  password: hunter2\n"),
			"token":       []byte("t0ken,with,commas"),
		}},
	}
	c := fake.NewClientBuilder().WithRuntimeObjects(objs...).Build()
	refs := []meta.ValuesReference{
		{Kind: "ConfigMap", Name: "base"},
		{Kind: "ConfigMap", Name: "base", ValuesKey: "prod.yaml"},
		{Kind: "Secret", Name: "creds"},
		{Kind: "ConfigMap", Name: "base", ValuesKey: "count", TargetPath: "scale.max"},
		{Kind: "Secret", Name: "creds", ValuesKey: "token", TargetPath: "auth.token", Literal: true},
		{Kind: "ConfigMap", Name: "absent", Optional: true},
		{Kind: "Secret", Name: "creds", ValuesKey: "absent", Optional: true},
	}
	got, err := Compose(ctx, c, "apps", refs, &runtime.RawExtension{Raw: []byte(`{"replicas":5,"image":{"pullPolicy":"Always"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"replicas": float64(5),
		"image":    map[string]any{"repository": "podinfo", "tag": "6.9.1", "pullPolicy": "Always"},
		"list":     []any{"c"},
		"auth":     map[string]any{"password": "hunter2", "token": "t0ken,with,commas"},
		"scale":    map[string]any{"max": int64(7)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("values:\n got %#v\nwant %#v", got, want)
	}
	if Digest(got) != Digest(want) || Digest(got) == Digest(map[string]any{}) || !strings.HasPrefix(Digest(got), "sha256:") {
		t.Error("the digest does not identify the values")
	}

	for name, tc := range map[string]struct {
		ref  meta.ValuesReference
		want string
	}{
		"missing object": {meta.ValuesReference{Kind: "ConfigMap", Name: "absent"}, "ConfigMap 'apps/absent' does not exist"},
		"missing key":    {meta.ValuesReference{Kind: "Secret", Name: "creds", ValuesKey: "nope"}, "has no key 'nope'"},
		"not a map":      {meta.ValuesReference{Kind: "Secret", Name: "creds", ValuesKey: "token"}, "key 'token' of Secret 'apps/creds' is not a YAML map"},
		"bad --set":      {meta.ValuesReference{Kind: "Secret", Name: "creds", ValuesKey: "token", TargetPath: "a[99999]"}, "cannot be set at 'a[99999]'"},
	} {
		_, err := Compose(ctx, c, "apps", []meta.ValuesReference{tc.ref}, nil)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "t0ken") || strings.Contains(err.Error(), "hunter2")) {
			t.Errorf("%s: the error shows a value: %v", name, err)
		}
	}
	// A plain --set value: commas split it into more keys, as helm --set does.
	got, err = Compose(ctx, c, "apps", []meta.ValuesReference{{Kind: "ConfigMap", Name: "base", ValuesKey: "csv", TargetPath: "x"}}, nil)
	if err == nil && reflect.DeepEqual(got, map[string]any{"x": "a,b"}) {
		t.Errorf("a non-literal value was not parsed as --set: %#v", got)
	}
}

func TestMergeLeavesItsInputs(t *testing.T) {
	a := map[string]any{"m": map[string]any{"x": 1}}
	b := map[string]any{"m": map[string]any{"y": 2}}
	out := Merge(a, b)
	if len(a["m"].(map[string]any)) != 1 || len(b["m"].(map[string]any)) != 1 || len(out["m"].(map[string]any)) != 2 {
		t.Fatalf("a %v b %v out %v", a, b, out)
	}
}
