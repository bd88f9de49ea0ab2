package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv/ocitest"
	"github.com/driftless-dev/driftless/pkg/testenv/s3test"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// The figures of the OCI and Bucket scenarios.
const (
	ociRepos      = 200
	bucketObjects = 10_000
	bucketChanged = 10
)

func ociScenarios() []scenario {
	return []scenario{
		{name: "oci-200-repos", note: "200 OCIRepositories (flux push format, basic auth) created to all Ready; then no change", runAll: ociRepositories, quick: true},
		{name: "bucket-10k", note: "one Bucket of 10,000 objects: first sync; then 10 objects changed", runAll: bigBucket},
	}
}

// requestAll sets a new requestedAt on every named object of the kind and waits until all are
// handled.
func requestAll[T client.ObjectList](ctx context.Context, h *harness, newObj func(name string) client.Object, names []string, list T, ns string, handled func(T, string) int) error {
	token := time.Now().Format(time.RFC3339Nano)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, token)
	for _, name := range names {
		o := newObj(name)
		o.SetNamespace(ns)
		if err := h.env.Client.Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return err
		}
	}
	return waitAll(ctx, h, list, ns, len(names), 5*time.Minute, func(l T) int { return handled(l, token) })
}

// ociRepositories measures 200 OCIRepositories, each its own repository in a registry with
// basic auth, created to all Ready; then a requestedAt on all when nothing was pushed (goal: one
// manifest request each, no layer download).
func ociRepositories(ctx context.Context, h *harness) ([]result, error) {
	reg, err := ocitest.Start(ocitest.Options{Username: "bench", Password: "bench-pass"})
	if err != nil {
		return nil, err
	}
	defer reg.Server.Close()
	names := make([]string, ociRepos)
	for i := range names {
		names[i] = fmt.Sprintf("app-%03d", i)
		if _, err := reg.PushFlux("fleet/"+names[i], "v1.0.0",
			map[string]string{"deploy/config.yaml": fmt.Sprintf("kind: ConfigMap\nmetadata: {name: %s}\n", names[i])},
			map[string]string{"org.opencontainers.image.revision": "main@sha1:0123456789abcdef"}); err != nil {
			return nil, err
		}
	}
	ready := func(l *sourcev1.OCIRepositoryList) int {
		n := 0
		for _, o := range l.Items {
			if o.Status.Artifact != nil && o.Status.ObservedGeneration == o.Generation && len(o.Status.Conditions) > 0 {
				for _, c := range o.Status.Conditions {
					if c.Type == meta.ReadyCondition && c.Status == metav1.ConditionTrue {
						n++
					}
				}
			}
		}
		return n
	}
	ns, err := h.namespace(ctx)
	if err != nil {
		return nil, err
	}
	c, err := startSource(h, ns)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	auth := fmt.Sprintf(`{"auths":{%q:{"username":"bench","password":"bench-pass"}}}`, reg.Host)
	if err := h.env.Client.Create(ctx, secretOf(ns, "registry", map[string]string{".dockerconfigjson": auth})); err != nil {
		return nil, err
	}

	before, err := c.usage()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	requests0, blobs0 := reg.Requests(), reg.BlobPulls()
	for _, name := range names {
		o := &sourcev1.OCIRepository{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: sourcev1.OCIRepositorySpec{
				URL: reg.URL + "/fleet/" + name, Insecure: true, Interval: meta.Duration{Duration: time.Hour},
				Reference: &sourcev1.OCIRepositoryRef{Tag: "v1.0.0"},
				SecretRef: &meta.LocalObjectReference{Name: "registry"},
			},
		}
		if err := h.env.Client.Create(ctx, o); err != nil {
			return nil, err
		}
	}
	if err := waitAll(ctx, h, &sourcev1.OCIRepositoryList{}, ns, ociRepos, 10*time.Minute, ready); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, c.logPath)
	}
	created, err := c.since(before, start)
	if err != nil {
		return nil, err
	}
	created.Scenario, created.Note = "oci-200-repos", "200 OCIRepositories (flux push format, basic auth), created to all Ready"
	created.Extra = map[string]float64{
		"registry requests": float64(reg.Requests() - requests0),
		"layer downloads":   float64(reg.BlobPulls() - blobs0),
	}

	before, err = c.usage()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	requests0, blobs0 = reg.Requests(), reg.BlobPulls()
	err = requestAll(ctx, h, func(name string) client.Object {
		return &sourcev1.OCIRepository{ObjectMeta: metav1.ObjectMeta{Name: name}}
	},
		names, &sourcev1.OCIRepositoryList{}, ns, func(l *sourcev1.OCIRepositoryList, token string) int {
			n := 0
			for _, o := range l.Items {
				if o.Status.LastHandledReconcileAt == token {
					n++
				}
			}
			return n
		})
	if err != nil {
		return nil, err
	}
	idle, err := c.since(before, start)
	if err != nil {
		return nil, err
	}
	idle.Scenario, idle.Note = "oci-no-change", "requestedAt on all 200 Ready OCIRepositories, nothing pushed, until all handled"
	idle.Extra = map[string]float64{
		"registry requests": float64(reg.Requests() - requests0),
		"layer downloads":   float64(reg.BlobPulls() - blobs0),
	}
	return []result{created, idle}, nil
}

// bigBucket measures one Bucket of 10,000 objects: the first sync to Ready, then a sync after
// 10 objects changed (goal: 10 downloads, not 10,000).
func bigBucket(ctx context.Context, h *harness) ([]result, error) {
	srv := s3test.Start(s3test.Options{AccessKey: "AKIABENCH"})
	defer srv.Close()
	if err := srv.CreateBucket("fleet"); err != nil {
		return nil, err
	}
	object := func(i, version int) (string, string) {
		return fmt.Sprintf("apps/app-%02d/config-%04d.yaml", i%100, i),
			fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-%04d\ndata:\n  version: \"%d\"\n", i, version)
	}
	for i := range bucketObjects {
		key, body := object(i, 1)
		if err := srv.Put("fleet", key, body); err != nil {
			return nil, err
		}
	}
	ns, err := h.namespace(ctx)
	if err != nil {
		return nil, err
	}
	c, err := startSource(h, ns)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	if err := h.env.Client.Create(ctx, secretOf(ns, "s3", map[string]string{"accesskey": "AKIABENCH", "secretkey": "bench-secret"})); err != nil {
		return nil, err
	}
	var revision string
	synced := func(not string) func(*sourcev1.BucketList) int {
		return func(l *sourcev1.BucketList) int {
			if len(l.Items) == 1 && l.Items[0].Status.Artifact != nil && l.Items[0].Status.Artifact.Revision != not {
				revision = l.Items[0].Status.Artifact.Revision
				return 1
			}
			return 0
		}
	}

	before, err := c.usage()
	if err != nil {
		return nil, err
	}
	start, gets0 := time.Now(), srv.ObjectGets()
	b := &sourcev1.Bucket{
		ObjectMeta: metav1.ObjectMeta{Name: "fleet", Namespace: ns},
		Spec: sourcev1.BucketSpec{BucketName: "fleet", Endpoint: srv.Endpoint, Insecure: true, Interval: meta.Duration{Duration: time.Hour},
			SecretRef: &meta.LocalObjectReference{Name: "s3"}, Timeout: &meta.Duration{Duration: 10 * time.Minute}},
	}
	if err := h.env.Client.Create(ctx, b); err != nil {
		return nil, err
	}
	if err := waitAll(ctx, h, &sourcev1.BucketList{}, ns, 1, 10*time.Minute, synced("")); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, c.logPath)
	}
	first, err := c.since(before, start)
	if err != nil {
		return nil, err
	}
	first.Scenario, first.Note = "bucket-10k", "one Bucket of 10,000 objects, created to Ready"
	first.Extra = map[string]float64{"object downloads": float64(srv.ObjectGets() - gets0)}

	for i := range bucketChanged {
		key, body := object(i*997%bucketObjects, 2)
		if err := srv.Put("fleet", key, body); err != nil {
			return nil, err
		}
	}
	before, err = c.usage()
	if err != nil {
		return nil, err
	}
	start, gets0 = time.Now(), srv.ObjectGets()
	err = requestAll(ctx, h, func(name string) client.Object { return &sourcev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: name}} },
		[]string{"fleet"}, &sourcev1.BucketList{}, ns, func(l *sourcev1.BucketList, token string) int {
			if len(l.Items) == 1 && l.Items[0].Status.LastHandledReconcileAt == token && l.Items[0].Status.Artifact.Revision != revision {
				return 1
			}
			return 0
		})
	if err != nil {
		return nil, err
	}
	changed, err := c.since(before, start)
	if err != nil {
		return nil, err
	}
	changed.Scenario, changed.Note = "bucket-10-changed", "the 10,000-object Bucket after 10 objects changed, requested to the new revision"
	changed.Extra = map[string]float64{"object downloads": float64(srv.ObjectGets() - gets0)}
	return []result{first, changed}, nil
}

// secretOf is a Secret of the namespace with the string data.
func secretOf(ns, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
}
