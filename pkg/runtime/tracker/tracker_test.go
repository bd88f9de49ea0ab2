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

func TestFieldsTakenOnlyWhenAnotherWriterTakesAppliedFields(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	later := metav1.NewTime(at.Add(time.Minute))
	entry := func(manager string, op metav1.ManagedFieldsOperationType, when *metav1.Time, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Time: when, FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	obj := func(entries ...metav1.ManagedFieldsEntry) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{ManagedFields: entries}
	}
	const both = `{"f:data":{"f:a":{},"f:b":{}}}`
	applied := entry("kustomize-controller", metav1.ManagedFieldsOperationApply, &at, both)
	before := obj(applied)

	for _, tc := range []struct {
		name  string
		after *metav1.ObjectMeta
		by    string
	}{
		{"kubectl edit takes data.a", obj(entry("kustomize-controller", metav1.ManagedFieldsOperationApply, &at, `{"f:data":{"f:b":{}}}`), entry("kubectl-edit", metav1.ManagedFieldsOperationUpdate, &later, `{"f:data":{"f:a":{}}}`)), "kubectl-edit"},
		{"another applier forces every field", obj(entry("other", metav1.ManagedFieldsOperationApply, &later, both)), "other"},
		// What the API server leaves of a JSON patch removing data.a: no entry of its writer.
		{"a JSON patch removes data.a", obj(entry("kustomize-controller", metav1.ManagedFieldsOperationApply, &at, `{"f:data":{"f:b":{}}}`)), ""},
		// Indistinguishable from the removal above; its correction is a dry-run that finds
		// the object as built.
		{"the manager applies a field less within the same second", obj(entry("kustomize-controller", metav1.ManagedFieldsOperationApply, &at, `{"f:data":{"f:a":{}}}`)), ""},
	} {
		if by, taken := FieldsTaken(before, tc.after, "kustomize-controller"); !taken || by != tc.by {
			t.Errorf("%s: FieldsTaken = %q, %v; want %q, true", tc.name, by, taken, tc.by)
		}
	}
	for _, tc := range []struct {
		name  string
		after *metav1.ObjectMeta
	}{
		{"unchanged", obj(applied)},
		{"the manager's cleanup folds kubectl's fields into its entry", obj(entry("kustomize-controller", metav1.ManagedFieldsOperationApply, &at, `{"f:data":{"f:a":{},"f:b":{},"f:c":{}}}`))},
		{"a controller adds an annotation", obj(applied, entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, &later, `{"f:metadata":{"f:annotations":{}}}`))},
		{"the manager applies a field less", obj(entry("kustomize-controller", metav1.ManagedFieldsOperationApply, &later, `{"f:data":{"f:a":{}}}`))},
	} {
		if by, taken := FieldsTaken(before, tc.after, "kustomize-controller"); taken {
			t.Errorf("%s: FieldsTaken = %q, true; want false", tc.name, by)
		}
	}
	if _, taken := FieldsTaken(obj(), obj(), "kustomize-controller"); taken {
		t.Error("an object the manager never applied drifted")
	}
}
