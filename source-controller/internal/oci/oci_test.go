package oci_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/driftless-dev/driftless/pkg/testenv/ocitest"
	"github.com/driftless-dev/driftless/source-controller/internal/oci"
)

func TestPullFromARegistryWithBasicAuth(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.New(t, ocitest.Options{Username: "bot", Password: "s3cret", TLS: true})
	chart := []byte("not really a chart, only bytes")
	pushed := reg.PushChart(t, "charts", "app", "1.0.0+build.1", chart)
	reg.PushChart(t, "charts", "app", "1.1.0", chart)

	host, path, err := oci.ParseURL(reg.URL + "/charts/")
	if err != nil || host != reg.Host || path != "charts" {
		t.Fatalf("ParseURL = %q %q %v", host, path, err)
	}
	repo, err := oci.Open(host+"/"+path+"/app", oci.Options{HTTPClient: reg.Server.Client(), Credential: &oci.Credential{Username: "bot", Password: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	tags, err := repo.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	if !slices.Equal(tags, []string{"1.0.0_build.1", "1.1.0"}) || oci.TagToVersion(tags[0]) != "1.0.0+build.1" {
		t.Fatalf("tags = %v", tags)
	}
	desc, err := repo.Resolve(ctx, oci.VersionToTag("1.0.0+build.1"))
	if err != nil || desc.Digest != pushed.Digest {
		t.Fatalf("Resolve = %v %v, pushed %v", desc.Digest, err, pushed.Digest)
	}
	m, err := repo.Manifest(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != oci.HelmConfigMediaType || len(m.Layers) != 1 || m.Layers[0].MediaType != oci.HelmChartLayerMediaType {
		t.Fatalf("manifest = %+v", m)
	}
	var buf bytes.Buffer
	if err := repo.Blob(ctx, m.Layers[0], &buf, 1<<20); err != nil || !bytes.Equal(buf.Bytes(), chart) {
		t.Fatalf("Blob = %q %v", buf.String(), err)
	}
	if err := repo.Blob(ctx, m.Layers[0], &buf, 10); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("a layer over the limit: %v", err)
	}
	lying := m.Layers[0]
	lying.Size-- // the registry sends one byte more than the descriptor says
	if err := repo.Blob(ctx, lying, &bytes.Buffer{}, 1<<20); err == nil {
		t.Fatal("a layer that is not its descriptor's size was read")
	}
	if _, err := repo.Resolve(ctx, "9.9.9"); !oci.IsNotFound(err) {
		t.Fatalf("a missing tag: %v", err)
	}

	for name, cred := range map[string]*oci.Credential{"anonymous": nil, "wrong": {Username: "bot", Password: "nope"}} {
		anon, err := oci.Open(reg.Host+"/charts/app", oci.Options{HTTPClient: reg.Server.Client(), Credential: cred})
		if err != nil {
			t.Fatal(err)
		}
		_, err = anon.Resolve(ctx, "1.1.0")
		if !errors.Is(err, oci.ErrUnauthorized) || strings.Contains(err.Error(), "nope") {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, bad := range []string{"https://ghcr.io/org", "oci://", "oci://user:pass@ghcr.io/org", "oci://ghcr.io/org?x=1", "oci://ghcr.io/org/app:1.0.0", "oci://ghcr.io/org/app@sha256:00"} {
		if _, _, err := oci.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) passed", bad)
		} else if strings.Contains(err.Error(), "pass") {
			t.Errorf("ParseURL(%q) tells the password: %v", bad, err)
		}
	}
	if host, path, err := oci.ParseURL("oci://localhost:5000"); err != nil || host != "localhost:5000" || path != "" {
		t.Fatalf("a registry's root: %q %q %v", host, path, err)
	}
}

func TestDockerConfigCredential(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("bot:pa:ss"))
	cfg := []byte(`{"auths":{"https://ghcr.io/v1/":{"auth":"` + auth + `"},"registry.example.com:5000":{"username":"u","password":"p"},"quay.io":{"identitytoken":"tok"}}}`)
	for host, want := range map[string]*oci.Credential{
		"ghcr.io":                   {Username: "bot", Password: "pa:ss"},
		"registry.example.com:5000": {Username: "u", Password: "p"},
		"quay.io":                   {IdentityToken: "tok"},
		"docker.io":                 nil,
	} {
		got, err := oci.DockerConfigCredential(cfg, host)
		if err != nil || (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("%s: %+v %v, want %+v", host, got, err, want)
		}
	}
	if _, err := oci.DockerConfigCredential([]byte(`{"auths":{"ghcr.io":{"auth":"!!"}}}`), "ghcr.io"); err == nil {
		t.Error("an 'auth' that is not base64 passed")
	}
}

// A cosign signature verifies with the key that made it (ECDSA, RSA, Ed25519) and only for the
// manifest its payload names; none, another key or another digest is refused.
func TestVerifyCosign(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.New(t, ocitest.Options{})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := func(signers ...crypto.Signer) []crypto.PublicKey {
		data := map[string][]byte{"README": []byte("not a key")}
		for i, s := range signers {
			data[fmt.Sprintf("k%d.pub", i)] = []byte(ocitest.PublicKeyPEM(t, s))
		}
		k, err := oci.ParsePublicKeys(data)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	repo, err := oci.Open(reg.Host+"/charts/app", oci.Options{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, signer := range []crypto.Signer{ecKey, rsaKey, edKey} {
		desc := reg.PushChart(t, "charts", "app", fmt.Sprintf("1.0.%d", i), []byte(fmt.Sprint("chart ", i)))
		if err := repo.VerifyCosign(ctx, desc, keys(other)); !errors.Is(err, oci.ErrNoSignature) {
			t.Errorf("%T: unsigned: %v", signer, err)
		}
		reg.SignCosign(t, "charts/app", desc, signer, "")
		if err := repo.VerifyCosign(ctx, desc, keys(other, signer)); err != nil {
			t.Errorf("%T: %v", signer, err)
		}
		if err := repo.VerifyCosign(ctx, desc, keys(other)); !errors.Is(err, oci.ErrNotVerified) {
			t.Errorf("%T: another key: %v", signer, err)
		}
	}
	// A valid signature of another manifest, copied under this one's signature tag.
	signed := reg.PushChart(t, "charts", "app", "2.0.0", []byte("signed"))
	replayed := reg.PushChart(t, "charts", "app", "2.0.1", []byte("replayed"))
	reg.SignCosign(t, "charts/app", replayed, ecKey, signed.Digest.String())
	if err := repo.VerifyCosign(ctx, replayed, keys(ecKey)); !errors.Is(err, oci.ErrNotVerified) || !strings.Contains(err.Error(), "another manifest") {
		t.Errorf("a replayed signature: %v", err)
	}
	for name, data := range map[string]map[string][]byte{
		"no key":     {"cosign.key": []byte("x")},
		"not PEM":    {"cosign.pub": []byte("x")},
		"not public": {"cosign.pub": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")})},
	} {
		if _, err := oci.ParsePublicKeys(data); err == nil {
			t.Errorf("%s: passed", name)
		}
	}
}

// The keys' digest follows the '*.pub' entries only, and changes with a rotated key.
func TestKeysDigest(t *testing.T) {
	a := map[string][]byte{"cosign.pub": []byte("key a"), "README": []byte("x")}
	b := map[string][]byte{"cosign.pub": []byte("key a"), "README": []byte("y")}
	c := map[string][]byte{"cosign.pub": []byte("key c")}
	if oci.KeysDigest(a) != oci.KeysDigest(b) || oci.KeysDigest(a) == oci.KeysDigest(c) {
		t.Fatal("the digest does not identify the public keys")
	}
}
