package tracker

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFingerprintFollowsWritesButNotStatus(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	obj := func(entries ...metav1.ManagedFieldsEntry) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{UID: "u1", ManagedFields: entries}
	}
	applied := metav1.ManagedFieldsEntry{Manager: "kustomize-controller", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "apps/v1", Time: &at, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}}
	status := metav1.ManagedFieldsEntry{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &at, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{}}`)}}
	scaled := metav1.ManagedFieldsEntry{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "scale", Time: &at, FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}}

	base := Fingerprint(obj(applied))
	if Fingerprint(obj(applied, status)) != base {
		t.Error("a status update changed the fingerprint")
	}
	if Fingerprint(obj(applied, scaled)) == base {
		t.Error("kubectl scale did not change the fingerprint")
	}
	later := metav1.NewTime(at.Add(time.Minute))
	rewritten := applied
	rewritten.Time = &later
	if Fingerprint(obj(rewritten)) == base {
		t.Error("a later write by the same manager did not change the fingerprint")
	}
	recreated := obj(applied)
	recreated.UID = "u2"
	if Fingerprint(recreated) == base {
		t.Error("a deleted and recreated object kept its fingerprint")
	}
}
