package decrypt

import (
	"strings"
	"testing"
)

func TestKeysFromSecretHidesBadKeys(t *testing.T) {
	_, err := KeysFromSecret(map[string][]byte{"bad.agekey": []byte("AGE-SECRET-KEY-1NOTAKEY")})
	if err == nil || strings.Contains(err.Error(), "NOTAKEY") || !strings.Contains(err.Error(), "bad.agekey") {
		t.Errorf("bad key: %v", err)
	}
}
