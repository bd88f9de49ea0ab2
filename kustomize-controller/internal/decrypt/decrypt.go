// Package decrypt decrypts SOPS-encrypted manifests in process, with the keys a
// Kustomization's spec.decryption.secretRef holds. No key reaches the file system, the
// environment or a log line, and no plaintext reaches an error.
package decrypt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/logging"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
)

func init() {
	// sops logs every key it tries at info level, to stderr; its errors say enough.
	logging.SetLevel(logrus.WarnLevel)
}

// Keys are the private keys of a decryption Secret.
type Keys struct {
	age age.ParsedIdentities
	// unsupported are the Secret's entries that hold keys of a kind not supported yet.
	unsupported []string
}

// KeysFromSecret reads the keys of a decryption Secret, as Flux lays it out: age identities
// under keys ending in '.agekey'. OpenPGP keys ('.asc') and cloud KMS credentials
// ('sops.aws-kms', 'sops.azure-kv', 'sops.gcp-kms', 'sops.vault-token') are recognised but
// not supported yet: a document only they can open fails to decrypt, saying so.
func KeysFromSecret(data map[string][]byte) (*Keys, error) {
	k := &Keys{}
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, ".agekey"):
			if err := k.age.Import(string(data[name])); err != nil {
				// The parser's error can quote the line it failed on: say only where.
				return nil, fmt.Errorf("entry '%s' does not hold valid age identities", name)
			}
		case strings.HasSuffix(name, ".asc"), strings.HasPrefix(name, "sops."):
			k.unsupported = append(k.unsupported, name)
		}
	}
	return k, nil
}

// File decrypts a file the build reads, when it is a SOPS-encrypted document in the format
// its extension names (.yaml, .yml, .json, .env, .ini; any other file is tried as sops's
// binary format). Any other file is returned as it is. Decrypting the files, before
// kustomize transforms them, verifies each document's MAC against what was encrypted, and
// covers every way kustomize reads a file: resources, patches and the files and envs of
// secret and config map generators.
func (k *Keys) File(path string, data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte("sops")) || !bytes.Contains(data, []byte("mac")) {
		return data, nil
	}
	plain, err := k.document(data, formats.FormatForPath(path))
	if errors.Is(err, sops.MetadataNotFound) || errors.Is(err, errNotADocument) {
		return data, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decrypting %s: %w", path, err)
	}
	return plain, nil
}

// Object decrypts a built object, given as JSON in its original field order, when it is
// still a SOPS-encrypted document after the build (its file was not recognised by File). It
// must be as it was encrypted: a document that kustomize transformed fails its MAC check.
// name names the object in errors.
func (k *Keys) Object(name string, data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte(`"sops"`)) {
		return data, nil
	}
	plain, err := k.document(data, formats.Json)
	if errors.Is(err, sops.MetadataNotFound) || errors.Is(err, errNotADocument) {
		return data, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decrypting %s: %w", name, err)
	}
	return plain, nil
}

var errNotADocument = errors.New("not a document in that format")

// document decrypts an encrypted document in the given format, verifying its MAC.
func (k *Keys) document(doc []byte, format formats.Format) (_ []byte, err error) {
	defer func() {
		// Malformed input can make the SOPS library panic: it is a bad document, not a crash.
		if r := recover(); r != nil {
			err = errors.New("the document is not a valid SOPS document")
		}
	}()
	store := common.StoreForFormat(format, config.NewStoresConfig())
	tree, err := store.LoadEncryptedFile(doc)
	if err != nil {
		if errors.Is(err, sops.MetadataNotFound) {
			return nil, err
		}
		return nil, errNotADocument
	}
	dataKey, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{k}, nil)
	if err != nil {
		return nil, k.explain(err)
	}
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(dataKey, cipher)
	if err != nil {
		return nil, errors.New("the values cannot be decrypted with the document's data key")
	}
	want, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || want != mac {
		return nil, errors.New("the document was changed after it was encrypted (MAC mismatch)")
	}
	return store.EmitPlainFile(tree.Branches)
}

// explain turns sops's failure to recover the data key into a message that says which keys
// the Secret lacks.
func (k *Keys) explain(err error) error {
	msg := "no key in the decryption Secret opens the document's data key"
	if len(k.age) == 0 {
		msg += " (the Secret holds no age identity, in an entry ending in '.agekey')"
	}
	if len(k.unsupported) > 0 {
		msg += fmt.Sprintf("; entries %s hold keys that Driftless cannot use yet (only age is supported)", strings.Join(k.unsupported, ", "))
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// Decrypt implements keyservice.KeyServiceClient in process: it opens a data key encrypted
// for an age recipient with the Secret's identities, and nothing else.
func (k *Keys) Decrypt(_ context.Context, req *keyservice.DecryptRequest, _ ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	ageKey, ok := req.GetKey().GetKeyType().(*keyservice.Key_AgeKey)
	if !ok {
		return nil, fmt.Errorf("%T keys are not supported yet", req.GetKey().GetKeyType())
	}
	if len(k.age) == 0 {
		return nil, errors.New("no age identity")
	}
	mk := &age.MasterKey{Recipient: ageKey.AgeKey.GetRecipient(), EncryptedKey: string(req.GetCiphertext())}
	k.age.ApplyToMasterKey(mk)
	plain, err := mk.Decrypt()
	if err != nil {
		return nil, err
	}
	return &keyservice.DecryptResponse{Plaintext: plain}, nil
}

// Encrypt implements keyservice.KeyServiceClient: decryption never encrypts.
func (k *Keys) Encrypt(context.Context, *keyservice.EncryptRequest, ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	return nil, errors.New("encryption is not supported")
}
