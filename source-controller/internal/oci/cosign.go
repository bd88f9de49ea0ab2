package oci

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Cosign's signature format: a manifest tagged 'sha256-<hex>.sig' next to the signed one, each
// layer a simple-signing payload naming the signed digest, its signature in an annotation.
const (
	CosignPayloadMediaType    = "application/vnd.dev.cosign.simplesigning.v1+json"
	CosignSignatureAnnotation = "dev.cosignproject.cosign/signature"
	cosignPayloadType         = "cosign container image signature"
	maxCosignPayloadBytes     = 1 << 20
	maxCosignSignatures       = 100
)

var (
	// ErrNoSignature: the manifest has no cosign signature.
	ErrNoSignature = errors.New("no cosign signature")
	// ErrNotVerified: no signature verifies with the trusted keys.
	ErrNotVerified = errors.New("no signature verifies with the trusted keys")
)

// CosignPayload is the simple-signing document a cosign signature covers.
type CosignPayload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// SignatureTag is the tag cosign stores a manifest's signatures under.
func SignatureTag(desc ocispec.Descriptor) string {
	return strings.Replace(desc.Digest.String(), ":", "-", 1) + ".sig"
}

// ParsePublicKeys reads the PEM public keys (ECDSA, RSA or Ed25519) of a Secret's '*.pub' keys.
func ParsePublicKeys(data map[string][]byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for _, name := range publicKeyNames(data) {
		rest := data[name]
		found := false
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			key, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("'%s' is not a PEM public key: %w", name, err)
			}
			switch key.(type) {
			case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
			default:
				return nil, fmt.Errorf("'%s' holds a %T, not an ECDSA, RSA or Ed25519 key", name, key)
			}
			keys, found = append(keys, key), true
		}
		if !found {
			return nil, fmt.Errorf("'%s' holds no PEM public key", name)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no '*.pub' public key")
	}
	return keys, nil
}

// KeysDigest identifies the trusted keys of a Secret's data: the sha256 of its '*.pub' entries
// (names and contents), so that a rotated key is seen as a change.
func KeysDigest(data map[string][]byte) string {
	h := sha256.New()
	for _, name := range publicKeyNames(data) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data[name]))
		h.Write(data[name])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// publicKeyNames are the '*.pub' keys of a Secret's data, sorted.
func publicKeyNames(data map[string][]byte) []string {
	names := make([]string, 0, len(data))
	for name := range data {
		if strings.HasSuffix(name, ".pub") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// VerifyCosign checks that one of the cosign signatures of the manifest desc names verifies
// with one of keys and covers that very digest. Transparency-log entries are not checked: it
// works offline, as 'cosign verify --key --insecure-ignore-tlog' does.
func (r *Repository) VerifyCosign(ctx context.Context, desc ocispec.Descriptor, keys []crypto.PublicKey) error {
	sigDesc, err := r.Resolve(ctx, SignatureTag(desc))
	if err != nil {
		if IsNotFound(err) {
			return fmt.Errorf("%w for '%s@%s'", ErrNoSignature, r.Ref, desc.Digest)
		}
		return err
	}
	m, err := r.Manifest(ctx, sigDesc)
	if err != nil {
		return err
	}
	var problems []string
	tried := 0
	for _, layer := range m.Layers {
		sig := layer.Annotations[CosignSignatureAnnotation]
		if layer.MediaType != CosignPayloadMediaType || sig == "" {
			continue
		}
		if tried++; tried > maxCosignSignatures {
			break
		}
		var payload bytes.Buffer
		if err := r.Blob(ctx, layer, &payload, maxCosignPayloadBytes); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			problems = append(problems, "a signature is not base64")
			continue
		}
		if !verifyAny(keys, payload.Bytes(), raw) {
			continue
		}
		var p CosignPayload
		if err := json.Unmarshal(payload.Bytes(), &p); err != nil || p.Critical.Type != cosignPayloadType {
			problems = append(problems, "a signed payload is not a cosign simple-signing document")
			continue
		}
		if p.Critical.Image.DockerManifestDigest != desc.Digest.String() {
			problems = append(problems, fmt.Sprintf("a valid signature is for '%s', another manifest", p.Critical.Image.DockerManifestDigest))
			continue
		}
		return nil
	}
	if tried == 0 {
		return fmt.Errorf("%w for '%s@%s' (the signature manifest has no signed layer)", ErrNoSignature, r.Ref, desc.Digest)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: '%s@%s': %s", ErrNotVerified, r.Ref, desc.Digest, strings.Join(problems, "; "))
	}
	return fmt.Errorf("%w: '%s@%s'", ErrNotVerified, r.Ref, desc.Digest)
}

// verifyAny says whether sig is a signature of payload by one of keys, as cosign signs: ECDSA
// (ASN.1) and RSA (PKCS #1 v1.5) over its SHA-256, Ed25519 over the payload itself.
func verifyAny(keys []crypto.PublicKey, payload, sig []byte) bool {
	sum := sha256.Sum256(payload)
	for _, k := range keys {
		switch k := k.(type) {
		case *ecdsa.PublicKey:
			if ecdsa.VerifyASN1(k, sum[:], sig) {
				return true
			}
		case *rsa.PublicKey:
			if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil || rsa.VerifyPSS(k, crypto.SHA256, sum[:], sig, nil) == nil {
				return true
			}
		case ed25519.PublicKey:
			if ed25519.Verify(k, payload, sig) {
				return true
			}
		}
	}
	return false
}
