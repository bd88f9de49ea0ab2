package predicates

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// ConfigChanged passes the ConfigMaps and Secrets that opted into the watch (their labels
// match selector, as --watch-configs-label-selector says) when they appear, go or change their data.
func ConfigChanged(selector labels.Selector) predicate.Predicate {
	selected := func(o client.Object) bool { return selector.Matches(labels.Set(o.GetLabels())) }
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return selected(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return selected(e.Object) },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			if !selected(e.ObjectNew) {
				return false
			}
			switch o := e.ObjectOld.(type) {
			case *corev1.ConfigMap:
				n := e.ObjectNew.(*corev1.ConfigMap)
				return !equality.Semantic.DeepEqual(o.Data, n.Data) || !equality.Semantic.DeepEqual(o.BinaryData, n.BinaryData) || !selected(o)
			case *corev1.Secret:
				n := e.ObjectNew.(*corev1.Secret)
				return !equality.Semantic.DeepEqual(o.Data, n.Data) || !selected(o)
			}
			return false
		},
	}
}
