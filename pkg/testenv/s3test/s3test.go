// Package s3test runs a real S3 server (gofakes3, in memory) on 127.0.0.1 for tests and
// benchmarks. gofakes3 does not check signatures; the server refuses every request whose
// access key is not its own, so that wrong credentials are seen as a real server sees them.
package s3test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is a running S3 server.
type Server struct {
	// Endpoint is '127.0.0.1:<port>' (plain HTTP, or HTTPS with TLS).
	Endpoint string
	// HTTP is the underlying server; its Client trusts it when TLS is on.
	HTTP *httptest.Server
	// AccessKey is the only access key accepted; any when empty.
	AccessKey string
	backend   *s3mem.Backend
	gets      atomic.Int64
}

// Options of a server.
type Options struct {
	AccessKey string
	TLS       bool
}

// Start runs a server; Close stops it.
func Start(opts Options) *Server {
	s := &Server{AccessKey: opts.AccessKey, backend: s3mem.New()}
	fake := gofakes3.New(s.backend, gofakes3.WithAutoBucket(false), gofakes3.WithLogger(gofakes3.DiscardLog()))
	inner := fake.Server()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.AccessKey != "" && accessKey(r) != s.AccessKey {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
			return
		}
		if r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 {
			s.gets.Add(1)
		}
		inner.ServeHTTP(w, r)
	})
	if opts.TLS {
		s.HTTP = httptest.NewTLSServer(h)
	} else {
		s.HTTP = httptest.NewServer(h)
	}
	s.Endpoint = s.HTTP.Listener.Addr().String()
	return s
}

// accessKey is the access key of a request's SigV4 Authorization header.
func accessKey(r *http.Request) string {
	h := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(h, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "/")
	return key
}

// Close stops the server.
func (s *Server) Close() { s.HTTP.Close() }

// ObjectGets counts the object downloads (GET of a key, not listings).
func (s *Server) ObjectGets() int64 { return s.gets.Load() }

// CreateBucket makes an empty bucket.
func (s *Server) CreateBucket(name string) error { return s.backend.CreateBucket(name) }

// Put writes an object.
func (s *Server) Put(bucket, key, body string) error {
	// What gofakes3's own PUT handler records, which its GET handler answers with.
	meta := map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat), "Content-Type": "application/octet-stream"}
	_, err := s.backend.PutObject(bucket, key, meta, bytes.NewReader([]byte(body)), int64(len(body)), nil)
	return err
}

// Delete removes an object.
func (s *Server) Delete(bucket, key string) error {
	_, err := s.backend.DeleteObject(bucket, key)
	return err
}
