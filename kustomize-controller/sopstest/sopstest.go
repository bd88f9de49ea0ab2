// Package sopstest encrypts documents with SOPS for tests, as `sops --encrypt --age` does.
package sopstest

import (
	"testing"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/version"
)

// NewIdentity returns a new age identity: its secret key, as a '.agekey' entry holds it, and
// its recipient (public key).
func NewIdentity(t testing.TB) (secret, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.String(), id.Recipient().String()
}

// Encrypt encrypts doc, in the format the file name's extension names (.yaml, .json, .env,
// ...), for the age recipients (any one of them can decrypt it). encryptedRegex limits which
// keys are encrypted ("" for every value, or "^(data|stringData)$" as Flux's docs suggest
// for Secrets).
func Encrypt(t testing.TB, name string, doc []byte, encryptedRegex string, recipients ...string) []byte {
	t.Helper()
	store := common.StoreForFormat(formats.FormatForPath(name), config.NewStoresConfig())
	branches, err := store.LoadPlainFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	group := sops.KeyGroup{}
	for _, r := range recipients {
		mk, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			t.Fatal(err)
		}
		group = append(group, mk)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups: []sops.KeyGroup{group}, EncryptedRegex: encryptedRegex, Version: version.Version,
	}}
	dataKey, errs := tree.GenerateDataKeyWithKeyServices([]keyservice.KeyServiceClient{keyservice.NewLocalClient()})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := common.EncryptTree(common.EncryptTreeOpts{Tree: &tree, Cipher: aes.NewCipher(), DataKey: dataKey}); err != nil {
		t.Fatal(err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
