package predicates

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// Only a labelled ConfigMap or Secret wakes its readers, and only when its data changes or it
// gains the label.
func TestConfigChangedPredicate(t *testing.T) {
	p := ConfigChanged(labels.SelectorFromSet(labels.Set{meta.ReconcileWatchLabel: meta.ReconcileWatchEnabled}))
	cm := func(watch bool, data string) *corev1.ConfigMap {
		c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "vars", Namespace: "default"}, Data: map[string]string{"k": data}}
		if watch {
			c.Labels = map[string]string{meta.ReconcileWatchLabel: meta.ReconcileWatchEnabled}
		}
		return c
	}
	annotated := cm(true, "a")
	annotated.Annotations = map[string]string{"note": "x"}
	secret := func(watch bool, data string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: cm(watch, "").ObjectMeta, Data: map[string][]byte{"k": []byte(data)}}
	}
	for _, tc := range []struct {
		name     string
		old, new client.Object
		want     bool
	}{
		{"labelled, data changed", cm(true, "a"), cm(true, "b"), true},
		{"labelled, metadata changed", cm(true, "a"), annotated, false},
		{"unlabelled, data changed", cm(false, "a"), cm(false, "b"), false},
		{"label added", cm(false, "a"), cm(true, "a"), true},
		{"label removed", cm(true, "a"), cm(false, "b"), false},
		{"labelled secret, data changed", secret(true, "a"), secret(true, "b"), true},
		{"unlabelled secret, data changed", secret(false, "a"), secret(false, "b"), false},
	} {
		if got := p.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new}); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if !p.Create(event.CreateEvent{Object: cm(true, "a")}) || p.Create(event.CreateEvent{Object: cm(false, "a")}) {
		t.Error("creation: only a labelled ConfigMap wakes its readers")
	}
	if !p.Delete(event.DeleteEvent{Object: secret(true, "a")}) || p.Delete(event.DeleteEvent{Object: secret(false, "a")}) {
		t.Error("deletion: only a labelled Secret wakes its readers")
	}
}
