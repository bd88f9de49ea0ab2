package predicates

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func cm(gen int64, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Generation: gen, Annotations: annotations}}
}

func TestSpecOrRequest(t *testing.T) {
	const key = "reconcile.fluxcd.io/requestedAt"
	tests := []struct {
		name     string
		old, new *corev1.ConfigMap
		want     bool
	}{
		{"status only", cm(1, nil), cm(1, nil), false},
		{"new generation", cm(1, nil), cm(2, nil), true},
		{"first request", cm(1, nil), cm(1, map[string]string{key: "t1"}), true},
		{"new request", cm(1, map[string]string{key: "t1"}), cm(1, map[string]string{key: "t2"}), true},
		{"same request", cm(1, map[string]string{key: "t1"}), cm(1, map[string]string{key: "t1"}), false},
		{"request removed", cm(1, map[string]string{key: "t1"}), cm(1, nil), false},
		{"empty request", cm(1, nil), cm(1, map[string]string{key: ""}), false},
		{"other annotation", cm(1, nil), cm(1, map[string]string{"a": "b"}), false},
	}
	p := SpecOrRequest()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
				t.Fatalf("Update() = %v, want %v", got, tt.want)
			}
		})
	}
	if !p.Create(event.CreateEvent{Object: cm(1, nil)}) {
		t.Fatal("creation must be reconciled")
	}
}
