// Package ocitest runs a real OCI registry (distribution v3, in-memory storage) on 127.0.0.1
// for tests, optionally behind basic auth and TLS, and pushes artifacts to it with oras-go.
package ocitest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"           // basic auth
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // storage
)

// Registry is a running registry.
type Registry struct {
	// Host is '127.0.0.1:<port>'.
	Host string
	// URL is 'oci://127.0.0.1:<port>'.
	URL string
	// Server is the HTTP(S) server; its Client trusts it when TLS is on.
	Server *httptest.Server
	// Username and Password are needed when set.
	Username, Password string
	requests, blobs    atomic.Int64
}

// Options of a registry.
type Options struct {
	// Username and Password turn on basic auth.
	Username, Password string
	// TLS serves HTTPS with httptest's certificate.
	TLS bool
}

// New starts a registry, stopped when the test ends.
func New(t testing.TB, opts Options) *Registry {
	t.Helper()
	reg, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Server.Close)
	return reg
}

// Start starts a registry; its Server's Close stops it.
func Start(opts Options) (*Registry, error) {
	logrus.SetOutput(io.Discard)
	ctx := context.Background()
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{"inmemory": configuration.Parameters{}, "delete": configuration.Parameters{"enabled": true}},
	}
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "error"
	if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "ocitest-")
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(file, []byte(opts.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, err
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "ocitest", "path": file}}
	}
	app := handlers.NewApp(ctx, cfg)
	reg := &Registry{Username: opts.Username, Password: opts.Password}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			reg.requests.Add(1)
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			reg.blobs.Add(1)
		}
		app.ServeHTTP(w, r)
	})
	if opts.TLS {
		reg.Server = httptest.NewTLSServer(h)
	} else {
		reg.Server = httptest.NewServer(h)
	}
	reg.Host = strings.TrimPrefix(strings.TrimPrefix(reg.Server.URL, "http://"), "https://")
	reg.URL = "oci://" + reg.Host
	return reg, nil
}

// Requests counts the requests made to repositories (not the '/v2/' ping).
func (r *Registry) Requests() int64 { return r.requests.Load() }

// BlobPulls counts the blobs downloaded (GET, not HEAD).
func (r *Registry) BlobPulls() int64 { return r.blobs.Load() }

// Layer is one layer to push.
type Layer struct {
	MediaType   string
	Data        []byte
	Annotations map[string]string
}

// Push uploads an image manifest with the config and layers to '<host>/<path>' and tags it
// (when tag is set); it returns the manifest's descriptor.
func (r *Registry) Push(t testing.TB, path, tag, configMediaType string, config []byte, layers []Layer, annotations map[string]string) ocispec.Descriptor {
	t.Helper()
	desc, err := r.PushE(path, tag, configMediaType, config, layers, annotations)
	if err != nil {
		t.Fatal(err)
	}
	return desc
}

// PushE is Push, returning its error.
func (r *Registry) PushE(path, tag, configMediaType string, config []byte, layers []Layer, annotations map[string]string) (ocispec.Descriptor, error) {
	ctx := context.Background()
	repo, err := remote.NewRepository(r.Host + "/" + path)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	repo.PlainHTTP = r.Server.TLS == nil
	repo.Client = &auth.Client{Client: r.Server.Client(), Credential: auth.StaticCredential(r.Host, auth.Credential{Username: r.Username, Password: r.Password})}
	var pushErr error
	push := func(mediaType string, data []byte, ann map[string]string) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data)), Annotations: ann}
		if err := repo.Push(ctx, d, bytes.NewReader(data)); err != nil && pushErr == nil {
			pushErr = fmt.Errorf("push %s: %w", mediaType, err)
		}
		return d
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: push(configMediaType, config, nil), Annotations: annotations}
	for _, l := range layers {
		m.Layers = append(m.Layers, push(l.MediaType, l.Data, l.Annotations))
	}
	data, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := push(ocispec.MediaTypeImageManifest, data, nil)
	if pushErr != nil {
		return ocispec.Descriptor{}, pushErr
	}
	if tag != "" {
		if err := repo.Tag(ctx, desc, tag); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("tag %s: %w", tag, err)
		}
	}
	return desc, nil
}

// The media types 'flux push artifact' writes.
const (
	FluxConfigMediaType  = "application/vnd.cncf.flux.config.v1+json"
	FluxContentMediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"
)

// PushFlux pushes files (path → content) as 'flux push artifact' does: one tar+gzip layer of
// Flux's media types, with the manifest annotations (source, revision); tagged when tag is set.
func (r *Registry) PushFlux(path, tag string, files, annotations map[string]string) (ocispec.Descriptor, error) {
	layer, err := TarGz(files)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return r.PushE(path, tag, FluxConfigMediaType, []byte("{}"), []Layer{{MediaType: FluxContentMediaType, Data: layer}}, annotations)
}

// TarGz packs files (path → content), in name order, into a tar.gz of regular files.
func TarGz(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(files[name]))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PushChart pushes a chart archive as 'helm push' does: '<path>/<name>:<version with _ for +>'.
func (r *Registry) PushChart(t testing.TB, path, name, version string, archive []byte) ocispec.Descriptor {
	t.Helper()
	config, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": name, "version": version})
	ref := name
	if path != "" {
		ref = path + "/" + name
	}
	return r.Push(t, ref, strings.ReplaceAll(version, "+", "_"), "application/vnd.cncf.helm.config.v1+json", config,
		[]Layer{{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Data: archive}}, nil)
}

// SignCosign pushes a cosign signature of the manifest desc to '<path>:sha256-<hex>.sig', as
// 'cosign sign --key' does (without a transparency log entry). signedDigest is the digest the
// payload names: desc's own when empty.
func (r *Registry) SignCosign(t testing.TB, path string, desc ocispec.Descriptor, key crypto.Signer, signedDigest string) {
	t.Helper()
	if signedDigest == "" {
		signedDigest = desc.Digest.String()
	}
	payload := []byte(`{"critical":{"identity":{"docker-reference":"` + r.Host + "/" + path + `"},"image":{"docker-manifest-digest":"` + signedDigest +
		`"},"type":"cosign container image signature"},"optional":null}`)
	var sig []byte
	var err error
	if _, ok := key.(ed25519.PrivateKey); ok {
		sig, err = key.Sign(rand.Reader, payload, crypto.Hash(0))
	} else {
		sum := sha256.Sum256(payload)
		sig, err = key.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	tag := strings.Replace(desc.Digest.String(), ":", "-", 1) + ".sig"
	r.Push(t, path, tag, "application/vnd.oci.image.config.v1+json", []byte("{}"), []Layer{{
		MediaType:   "application/vnd.dev.cosign.simplesigning.v1+json",
		Data:        payload,
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
	}}, nil)
}

// PublicKeyPEM is key's public half as cosign writes it ('cosign.pub').
func PublicKeyPEM(t testing.TB, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
