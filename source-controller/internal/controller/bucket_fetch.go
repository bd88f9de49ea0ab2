package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
	"github.com/driftless-dev/driftless/source-controller/internal/sourceignore"
)

// Keys of a Bucket's secretRef for the generic (S3) provider.
const (
	keyAccessKey = "accesskey"
	keySecretKey = "secretkey"
)

// mirror is where a Bucket's downloaded objects are kept between reconciles, in sidecars of
// its artifacts (not served, removed with them): dir holds exactly the objects, record the
// ETag of each, and tmp the downloads in progress (on the same file system, for an atomic
// rename).
type mirror struct {
	dir, record, tmp string
}

func (r *BucketReconciler) mirrorOf(obj *sourcev1.Bucket) (*mirror, error) {
	m := &mirror{}
	for name, p := range map[string]*string{"mirror": &m.dir, "mirror.json": &m.record, "mirror-tmp": &m.tmp} {
		var err error
		if *p, err = r.Storage.ObjectSidecar(sourcev1.BucketKind, obj.Namespace, obj.Name, name); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// bucketIndex maps each object key to its ETag.
type bucketIndex map[string]string

// digest is Flux's revision of a bucket: the sha256 of the sorted 'key etag' lines.
func (idx bucketIndex) digest() string {
	keys := make([]string, 0, len(idx))
	for k := range idx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s %s\n", k, idx[k])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// digestHex is the hex of a '<algorithm>:<hex>' digest.
func digestHex(d string) string {
	_, h, _ := strings.Cut(d, ":")
	return h
}

// reconcileSource lists the bucket under spec.prefix (filtered by the server), leaves out what
// the ignore rules exclude (spec.ignore, the bucket's own '.sourceignore'), and when the index
// digest differs from the stored artifact's, brings the mirror up to date: it downloads only
// the objects whose ETag changed, in parallel and bounded, and removes those that are gone.
// Fails with: FetchFailed (AuthenticationFailed, BucketOperationFailed; Stalled for a provider,
// endpoint or STS that cannot work).
func (r *BucketReconciler) reconcileSource(ctx context.Context, s *bucketScope) error {
	obj := s.Object
	c, secrets, err := r.s3Client(ctx, obj)
	if err != nil {
		return err
	}
	failed := func(err error) error {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.BucketOperationFailedReason, redact.Error(err, secrets...))
	}
	ctx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()

	ok, err := c.BucketExists(ctx, obj.Spec.BucketName)
	if err != nil {
		return failed(fmt.Errorf("failed to confirm the existence of bucket '%s': %w", obj.Spec.BucketName, err))
	}
	if !ok {
		return failed(fmt.Errorf("bucket '%s' not found", obj.Spec.BucketName))
	}
	matcher, err := r.bucketIgnore(ctx, c, obj)
	if err != nil {
		return failed(err)
	}
	index, err := r.listBucket(ctx, c, obj, matcher)
	if err != nil {
		return failed(err)
	}
	s.revision = index.digest()
	if a := obj.Status.Artifact; !s.rebuild && a != nil && a.Revision == s.revision && equalPtr(obj.Status.ObservedIgnore, obj.Spec.Ignore) {
		return nil
	}
	conditions.MarkTrue(obj, sourcev1.ArtifactOutdatedCondition, sourcev1.NewRevisionReason, "new upstream revision '%s'", s.revision)
	m, err := r.mirrorOf(obj)
	if err != nil {
		return err
	}
	if s.fetched, err = m.sync(ctx, c, obj.Spec.BucketName, index, r.MaxFetches, r.Storage.Limits.WithDefaults().MaxFileBytes); err != nil {
		return failed(err)
	}
	s.synced = m.dir
	return nil
}

// s3Client is the S3 client of a 'generic' Bucket: static keys from secretRef, TLS from
// certSecretRef, the proxy from proxySecretRef; it returns the values never to show.
func (r *BucketReconciler) s3Client(ctx context.Context, obj *sourcev1.Bucket) (*minio.Client, []string, error) {
	if p := obj.Spec.Provider; p != "" && p != genericProvider {
		return nil, nil, lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.InvalidProviderConfigReason,
			fmt.Errorf("provider '%s': cloud bucket login is not supported by this version of source-controller; use 'generic' with access keys", p))
	}
	if sts := obj.Spec.STS; sts != nil {
		return nil, nil, lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.InvalidSTSConfigurationReason,
			fmt.Errorf("spec.sts with provider '%s' is not supported by this version of source-controller for the 'generic' provider; use static access keys", sts.Provider))
	}
	if obj.Spec.ServiceAccountName != "" {
		return nil, nil, lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.InvalidProviderConfigReason,
			errors.New("spec.serviceAccountName is for the cloud providers' workload identity, not the 'generic' provider"))
	}
	endpoint, secure, err := parseEndpoint(obj.Spec.Endpoint, obj.Spec.Insecure)
	if err != nil {
		return nil, nil, lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.URLInvalidReason, err)
	}
	var secrets []string
	authFailed := func(err error) error {
		return lifecycle.Failed(sourcev1.FetchFailedCondition, sourcev1.AuthenticationFailedReason, redact.Error(err, secrets...))
	}
	opts := &minio.Options{Secure: secure, Region: obj.Spec.Region, Creds: credentials.NewStatic("", "", "", credentials.SignatureAnonymous)}
	if ref := obj.Spec.SecretRef; ref != nil {
		data, err := readSecret(ctx, r.APIReader, obj.Namespace, ref)
		if err != nil {
			return nil, nil, authFailed(err)
		}
		access, secret := string(data[keyAccessKey]), string(data[keySecretKey])
		if access == "" || secret == "" {
			return nil, nil, authFailed(fmt.Errorf("secret '%s' needs both '%s' and '%s'", ref.Name, keyAccessKey, keySecretKey))
		}
		secrets = append(secrets, secret)
		opts.Creds = credentials.NewStaticV4(access, secret, "")
	}
	transport, proxySecrets, err := secretTransport(ctx, r.APIReader, obj.Namespace, obj.Spec.CertSecretRef, obj.Spec.ProxySecretRef)
	if err != nil {
		return nil, nil, authFailed(err)
	}
	secrets = append(secrets, proxySecrets...)
	opts.Transport = transport
	c, err := minio.New(endpoint, opts)
	if err != nil {
		return nil, nil, lifecycle.Stalled(sourcev1.FetchFailedCondition, sourcev1.URLInvalidReason, redact.Error(fmt.Errorf("endpoint '%s': %w", endpoint, err), secrets...))
	}
	return c, secrets, nil
}

// parseEndpoint is spec.endpoint as minio wants it, 'host[:port]', and whether to use TLS: an
// 'http://' or 'https://' prefix says, else spec.insecure does.
func parseEndpoint(raw string, insecure bool) (string, bool, error) {
	secure := !insecure
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "", false, fmt.Errorf("endpoint '%s' is not 'host[:port]' or an http(s) URL", redact.URL(raw))
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return "", false, fmt.Errorf("endpoint '%s' must be a host, without credentials, path or query", redact.URL(raw))
		}
		return u.Host, u.Scheme == "https", nil
	}
	if raw == "" || strings.ContainsAny(raw, "/?@") {
		return "", false, fmt.Errorf("endpoint '%s' is not 'host[:port]'", redact.URL(raw))
	}
	return raw, secure, nil
}

// bucketIgnore is the matcher of spec.ignore (or the default exclusions) and the bucket's own
// '.sourceignore' at its root, as Flux reads it.
func (r *BucketReconciler) bucketIgnore(ctx context.Context, c *minio.Client, obj *sourcev1.Bucket) (*sourceignore.Matcher, error) {
	files := map[string][]byte{}
	max := r.Storage.Limits.WithDefaults().MaxFileBytes
	o, err := c.GetObject(ctx, obj.Spec.BucketName, sourceignore.FileName, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading '%s': %w", sourceignore.FileName, err)
	}
	defer o.Close()
	data, err := io.ReadAll(io.LimitReader(o, max+1))
	switch {
	case err != nil && minio.ToErrorResponse(err).Code == "NoSuchKey":
	case err != nil:
		return nil, fmt.Errorf("reading '%s': %w", sourceignore.FileName, err)
	case int64(len(data)) > max:
		return nil, fmt.Errorf("'%s' is over the file size limit of %d bytes", sourceignore.FileName, max)
	default:
		files[""] = data
	}
	return sourceignore.NewMatcherFromFiles(obj.Spec.Ignore, files), nil
}

// listBucket is the index of the objects under spec.prefix that the matcher keeps, bounded by
// the artifact limits; a key that would leave the artifact root is refused.
func (r *BucketReconciler) listBucket(ctx context.Context, c *minio.Client, obj *sourcev1.Bucket, matcher *sourceignore.Matcher) (bucketIndex, error) {
	limits := r.Storage.Limits.WithDefaults()
	index := bucketIndex{}
	var total int64
	for o := range c.ListObjects(ctx, obj.Spec.BucketName, minio.ListObjectsOptions{Prefix: obj.Spec.Prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("listing objects of bucket '%s': %w", obj.Spec.BucketName, o.Err)
		}
		if strings.HasSuffix(o.Key, "/") {
			continue // a folder placeholder
		}
		if err := safeKey(o.Key); err != nil {
			return nil, err
		}
		if matcher.Excluded(o.Key, false) {
			continue
		}
		if o.Size > limits.MaxFileBytes {
			return nil, fmt.Errorf("object '%s' is %d bytes, over the file size limit of %d", o.Key, o.Size, limits.MaxFileBytes)
		}
		if total += o.Size; total > limits.MaxBytes {
			return nil, fmt.Errorf("the objects of bucket '%s' are over the size limit of %d bytes", obj.Spec.BucketName, limits.MaxBytes)
		}
		if len(index) >= limits.MaxFiles {
			return nil, fmt.Errorf("bucket '%s' has more than %d objects", obj.Spec.BucketName, limits.MaxFiles)
		}
		etag := o.ETag
		if etag == "" { // some servers omit it: the size and time stand in
			etag = fmt.Sprintf("%d-%d", o.Size, o.LastModified.UnixNano())
		}
		index[o.Key] = etag
	}
	return index, nil
}

// safeKey refuses an object key that is not a relative path inside the artifact root.
func safeKey(key string) error {
	clean := path.Clean("/" + key)
	if strings.HasPrefix(key, "/") || clean != "/"+key || strings.Contains(key, "\\") || strings.ContainsRune(key, 0) {
		return fmt.Errorf("object key '%s' is not a safe relative path: refused", key)
	}
	return nil
}

// sync makes the mirror hold exactly the index's objects: the ones whose ETag differs from
// the record (or that are not there) are downloaded, at most fetches at once and each at most
// max bytes, and the ones no longer listed removed. It returns how many it downloaded. The
// record is written even when a download fails, so that what did arrive is not downloaded
// again.
func (m *mirror) sync(ctx context.Context, c *minio.Client, bucket string, index bucketIndex, fetches int, maxBytes int64) (int, error) {
	for _, d := range []string{m.dir, m.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return 0, err
		}
	}
	have := bucketIndex{}
	if data, err := os.ReadFile(m.record); err == nil {
		_ = json.Unmarshal(data, &have)
	}
	for key := range have {
		if _, listed := index[key]; !listed {
			if err := os.Remove(m.path(key)); err != nil && !os.IsNotExist(err) {
				return 0, err
			}
			delete(have, key)
		}
	}
	var todo []string
	for key, etag := range index {
		if have[key] != etag || !regularFile(m.path(key)) {
			todo = append(todo, key)
			delete(have, key)
		}
	}
	slices.Sort(todo)

	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, max(fetches, 1))
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, key := range todo {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := m.fetch(ctx, c, bucket, key, maxBytes)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			have[key] = index[key]
		}()
	}
	wg.Wait()
	data, err := json.Marshal(have)
	if err == nil {
		err = os.WriteFile(m.record, data, 0o600)
	}
	if firstErr != nil {
		return 0, firstErr
	}
	if err != nil {
		return 0, fmt.Errorf("recording the mirror: %w", err)
	}
	removeEmptyDirs(m.dir)
	return len(todo), nil
}

// regularFile says whether p is a regular file.
func regularFile(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}

func (m *mirror) path(key string) string { return filepath.Join(m.dir, filepath.FromSlash(key)) }

// fetch downloads one object into the mirror, atomically, refusing one over max bytes.
func (m *mirror) fetch(ctx context.Context, c *minio.Client, bucket, key string, max int64) error {
	target := m.path(key)
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	o, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("downloading '%s': %w", key, err)
	}
	defer o.Close()
	tmp, err := os.CreateTemp(m.tmp, "object-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(o, max+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("downloading '%s': %w", key, err)
	}
	if n > max {
		return fmt.Errorf("object '%s' is over the file size limit of %d bytes", key, max)
	}
	return os.Rename(tmp.Name(), target)
}

// removeEmptyDirs removes the directories under root that removed objects left empty.
func removeEmptyDirs(root string) {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails, as it should, when not empty
	}
}
