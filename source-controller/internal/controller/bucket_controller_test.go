package controller

import (
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	"github.com/driftless-dev/driftless/pkg/testenv/s3test"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// bucket creates a Bucket in 'default' for the server's bucket, deleted when the test ends.
func bucket(t *testing.T, name string, srv *s3test.Server, bucketName string, mutate ...func(*sourcev1.Bucket)) *sourcev1.Bucket {
	t.Helper()
	obj := &sourcev1.Bucket{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: sourcev1.BucketSpec{
			BucketName: bucketName, Endpoint: srv.Endpoint, Insecure: true,
			Interval: meta.Duration{Duration: time.Hour},
		},
	}
	for _, m := range mutate {
		m(obj)
	}
	if err := env.Client.Create(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(testenv.Context(t), obj) })
	return obj
}

func waitBucket(t *testing.T, obj *sourcev1.Bucket, check func(*sourcev1.Bucket, *metav1.Condition) error) *sourcev1.Bucket {
	t.Helper()
	return waitFor(t, obj, func(o *sourcev1.Bucket) []metav1.Condition { return o.Status.Conditions }, check)
}

func requestBucket(t *testing.T, obj *sourcev1.Bucket) {
	t.Helper()
	request(t, obj, func(o *sourcev1.Bucket) string { return o.Status.LastHandledReconcileAt })
}

// bucketReady: Ready at the current generation with an artifact other than not (if set).
func bucketReady(not string) func(*sourcev1.Bucket, *metav1.Condition) error {
	return func(o *sourcev1.Bucket, c *metav1.Condition) error {
		if c.Status != metav1.ConditionTrue || o.Status.ObservedGeneration != o.Generation || o.Status.Artifact == nil || o.Status.Artifact.Revision == not {
			return fmt.Errorf("want Ready with a new artifact: %s %s, artifact %+v", c.Status, c.Message, o.Status.Artifact)
		}
		return nil
	}
}

func bucketFailed(reason, text string) func(*sourcev1.Bucket, *metav1.Condition) error {
	return func(o *sourcev1.Bucket, c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse || c.Reason != reason || !strings.Contains(c.Message, text) {
			return fmt.Errorf("want Ready False %s with %q: %s %s %s", reason, text, c.Status, c.Reason, c.Message)
		}
		return nil
	}
}

// A Bucket with access keys and a prefix: the artifact holds the objects under the prefix that
// the ignore rules keep (the bucket's '.sourceignore' too), its revision is the digest of the
// key/ETag index; an unchanged bucket downloads nothing, a changed object is the only one
// downloaded again, a deleted one leaves the artifact. Wrong keys and a server that went
// away keep the last artifact and show no secret key.
func TestBucketFollowsItsObjects(t *testing.T) {
	srv := s3test.Start(s3test.Options{AccessKey: "AKIATEST"})
	defer srv.Close()
	put := func(key, body string) {
		t.Helper()
		if err := srv.Put("manifests", key, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.CreateBucket("manifests"); err != nil {
		t.Fatal(err)
	}
	put(".sourceignore", "apps/**/*.md\n")
	put("apps/web/deploy.yaml", "kind: Deployment\n")
	put("apps/web/README.md", "ignored by the bucket's .sourceignore")
	put("apps/db/config.yaml", "kind: ConfigMap\n")
	put("apps/logo.png", "ignored by default")
	put("other/x.yaml", "outside the prefix")
	secret(t, "s3-keys", map[string]string{"accesskey": "AKIATEST", "secretkey": "s3-s3cret-key"})
	secret(t, "s3-wrong", map[string]string{"accesskey": "AKIAWRONG", "secretkey": "wr0ng-s3cret"})

	obj := bucket(t, "s3-apps", srv, "manifests", func(b *sourcev1.Bucket) {
		b.Spec.Prefix = "apps/"
		b.Spec.SecretRef = &meta.LocalObjectReference{Name: "s3-keys"}
	})
	got := waitBucket(t, obj, bucketReady(""))
	first := got.Status.Artifact.Revision
	if !strings.HasPrefix(first, "sha256:") || !strings.HasSuffix(got.Status.Artifact.Path, "/"+digestHex(first)+".tar.gz") {
		t.Errorf("artifact %+v", got.Status.Artifact)
	}
	if c := readyOf(got.Status.Conditions); c.Message != "stored artifact for revision '"+first+"'" {
		t.Errorf("Ready message %q", c.Message)
	}
	files := download(t, got.Status.Artifact)
	if len(files) != 2 || files["apps/web/deploy.yaml"] != "kind: Deployment\n" || files["apps/db/config.yaml"] != "kind: ConfigMap\n" {
		t.Errorf("artifact files: %v", keys(files))
	}

	gets := srv.ObjectGets()
	requestBucket(t, obj)
	// One GET: the root .sourceignore, read before the listing.
	if n := srv.ObjectGets() - gets; n != 1 {
		t.Errorf("an unchanged bucket cost %d object downloads, want 1 (.sourceignore)", n)
	}

	put("apps/db/config.yaml", "kind: ConfigMap\ndata: {}\n")
	gets = srv.ObjectGets()
	requestBucket(t, obj)
	got = waitBucket(t, obj, bucketReady(first))
	if n := srv.ObjectGets() - gets; n != 2 {
		t.Errorf("one changed object cost %d downloads, want 2 (.sourceignore and the object)", n)
	}
	if files := download(t, got.Status.Artifact); files["apps/db/config.yaml"] != "kind: ConfigMap\ndata: {}\n" || len(files) != 2 {
		t.Errorf("after a change: %v", files)
	}
	second := got.Status.Artifact.Revision

	if err := srv.Delete("manifests", "apps/web/deploy.yaml"); err != nil {
		t.Fatal(err)
	}
	requestBucket(t, obj)
	got = waitBucket(t, obj, bucketReady(second))
	if files := download(t, got.Status.Artifact); len(files) != 1 || files["apps/db/config.yaml"] == "" {
		t.Errorf("after a delete: %v", keys(files))
	}
	third := got.Status.Artifact.Revision

	patchBucket(t, obj, func(b *sourcev1.Bucket) { b.Spec.SecretRef.Name = "s3-wrong" })
	got = waitBucket(t, obj, bucketFailed(sourcev1.BucketOperationFailedReason, "Access Key Id"))
	if got.Status.Artifact.Revision != third {
		t.Errorf("the last artifact was lost: %s", got.Status.Artifact.Revision)
	}
	patchBucket(t, obj, func(b *sourcev1.Bucket) { b.Spec.SecretRef.Name = "s3-keys" })
	waitBucket(t, obj, bucketReady(""))
	srv.Close()
	requestBucket(t, obj)
	got = waitBucket(t, obj, bucketFailed(sourcev1.BucketOperationFailedReason, "bucket 'manifests'"))
	if got.Status.Artifact == nil || got.Status.Artifact.Revision != third {
		t.Errorf("the last artifact was lost when the server went away: %+v", got.Status.Artifact)
	}
	noSecretAnywhere(t, got, got.Status.Conditions, "s3-s3cret-key", "wr0ng-s3cret")
}

// Object keys that would leave the artifact root and objects over the size limit are refused;
// cloud providers and STS are refused until they can be tested, a bad endpoint is Stalled.
func TestBucketRefusesWhatItMustNot(t *testing.T) {
	srv := s3test.Start(s3test.Options{})
	defer srv.Close()
	for _, b := range []string{"escape", "big"} {
		if err := srv.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Put("escape", "ok.yaml", "a"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Put("escape", "a/../../etc/passwd", "x"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Put("big", "huge.yaml", strings.Repeat("x", maxTestFileBytes+1)); err != nil {
		t.Fatal(err)
	}
	waitBucket(t, bucket(t, "s3-escape", srv, "escape"), bucketFailed(sourcev1.BucketOperationFailedReason, "not a safe relative path"))
	waitBucket(t, bucket(t, "s3-big", srv, "big"), bucketFailed(sourcev1.BucketOperationFailedReason, "over the file size limit"))
	waitBucket(t, bucket(t, "s3-missing", srv, "missing"), bucketFailed(sourcev1.BucketOperationFailedReason, "bucket 'missing' not found"))
	aws := bucket(t, "s3-aws", srv, "escape", func(b *sourcev1.Bucket) { b.Spec.Provider = "aws" })
	got := waitBucket(t, aws, bucketFailed(sourcev1.InvalidProviderConfigReason, "provider 'aws'"))
	if !hasCondition(got.Status.Conditions, meta.StalledCondition, metav1.ConditionTrue) {
		t.Errorf("a cloud provider is not Stalled: %+v", got.Status.Conditions)
	}
	sts := bucket(t, "s3-sts", srv, "escape", func(b *sourcev1.Bucket) {
		b.Spec.STS = &sourcev1.BucketSTSSpec{Provider: "ldap", Endpoint: "https://sts.example.com"}
	})
	waitBucket(t, sts, bucketFailed(sourcev1.InvalidSTSConfigurationReason, "spec.sts"))
	bad := bucket(t, "s3-endpoint", srv, "escape", func(b *sourcev1.Bucket) { b.Spec.Endpoint = "https://user:pw@s3.example.com/path" })
	got = waitBucket(t, bad, bucketFailed(sourcev1.URLInvalidReason, "must be a host"))
	if strings.Contains(readyOf(got.Status.Conditions).Message, "pw") {
		t.Errorf("the endpoint's password is shown: %s", readyOf(got.Status.Conditions).Message)
	}
}

func patchBucket(t *testing.T, obj *sourcev1.Bucket, mutate func(*sourcev1.Bucket)) {
	t.Helper()
	patchObject(t, obj, mutate)
}

// A Bucket over TLS trusts the CA of certSecretRef, and only it.
func TestBucketOverTLS(t *testing.T) {
	srv := s3test.Start(s3test.Options{TLS: true})
	defer srv.Close()
	if err := srv.CreateBucket("tls"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Put("tls", "a.yaml", "a"); err != nil {
		t.Fatal(err)
	}
	secret(t, "s3-ca", map[string]string{"ca.crt": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.HTTP.Certificate().Raw}))})
	trusted := bucket(t, "s3-tls", srv, "tls", func(b *sourcev1.Bucket) {
		b.Spec.Insecure = false
		b.Spec.CertSecretRef = &meta.LocalObjectReference{Name: "s3-ca"}
	})
	got := waitBucket(t, trusted, bucketReady(""))
	if files := download(t, got.Status.Artifact); files["a.yaml"] != "a" {
		t.Errorf("artifact files: %v", files)
	}
	untrusted := bucket(t, "s3-tls-untrusted", srv, "tls", func(b *sourcev1.Bucket) { b.Spec.Insecure = false })
	waitBucket(t, untrusted, bucketFailed(sourcev1.BucketOperationFailedReason, "certificate"))
}
