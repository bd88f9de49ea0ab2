package git

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Secret keys, as in Flux.
const (
	KeyUsername    = "username"
	KeyPassword    = "password"
	KeyBearerToken = "bearerToken"
	KeyIdentity    = "identity"
	KeyKnownHosts  = "known_hosts"
	KeyCA          = "ca.crt"
	KeyTLSCert     = "tls.crt"
	KeyTLSKey      = "tls.key"
	// KeyCALegacy is the key Flux accepted before ca.crt.
	KeyCALegacy = "caFile"
)

// Auth holds what is needed to reach a remote.
type Auth struct {
	// URL is the repository the credentials are for: submodules on other hosts get none.
	URL      string
	Method   transport.AuthMethod
	CABundle []byte
	TLSCert  []byte
	TLSKey   []byte
	Proxy    transport.ProxyOptions
	// Secrets lists the credential values, so that error messages can be redacted.
	Secrets []string
}

// ErrInvalidSecret marks a Secret that cannot authenticate with the URL's scheme.
var ErrInvalidSecret = errors.New("invalid secret")

// AuthFromSecret builds the authentication for repoURL from a Secret's data (nil for none).
// tmpDir receives the known_hosts file for SSH.
func AuthFromSecret(repoURL string, data map[string][]byte, tmpDir string) (*Auth, error) {
	u, err := url.Parse(repoURL)
	if err != nil {
		return nil, fmt.Errorf("parsing URL: %w", err)
	}
	a := &Auth{URL: repoURL}
	switch u.Scheme {
	case "http", "https":
		if data == nil {
			return a, nil
		}
		user, pass, token := string(data[KeyUsername]), string(data[KeyPassword]), string(data[KeyBearerToken])
		switch {
		case token != "" && (user != "" || pass != ""):
			return nil, fmt.Errorf("%w: set either %s or %s/%s, not both", ErrInvalidSecret, KeyBearerToken, KeyUsername, KeyPassword)
		case token != "":
			a.Method = &githttp.TokenAuth{Token: token}
			a.Secrets = append(a.Secrets, token)
		case user != "" || pass != "":
			if user == "" {
				// Token-as-password hosts accept any user name.
				user = "git"
			}
			a.Method = &githttp.BasicAuth{Username: user, Password: pass}
			a.Secrets = append(a.Secrets, pass)
		}
		a.CABundle = data[KeyCA]
		if len(a.CABundle) == 0 {
			a.CABundle = data[KeyCALegacy]
		}
		a.TLSCert, a.TLSKey = data[KeyTLSCert], data[KeyTLSKey]
		if (len(a.TLSCert) == 0) != (len(a.TLSKey) == 0) {
			return nil, fmt.Errorf("%w: %s and %s must be set together", ErrInvalidSecret, KeyTLSCert, KeyTLSKey)
		}
		if u.Scheme == "http" && token != "" {
			return nil, fmt.Errorf("%w: a bearer token is only sent over https", ErrInvalidSecret)
		}
		return a, nil
	case "ssh":
		if data == nil || len(data[KeyIdentity]) == 0 {
			return nil, fmt.Errorf("%w: an ssh URL needs a secretRef with '%s' and '%s'", ErrInvalidSecret, KeyIdentity, KeyKnownHosts)
		}
		if len(data[KeyKnownHosts]) == 0 {
			return nil, fmt.Errorf("%w: '%s' is required to verify the SSH host key", ErrInvalidSecret, KeyKnownHosts)
		}
		user := u.User.Username()
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, data[KeyIdentity], string(data[KeyPassword]))
		if err != nil {
			return nil, fmt.Errorf("%w: parsing '%s': %v", ErrInvalidSecret, KeyIdentity, err)
		}
		khPath := filepath.Join(tmpDir, "known_hosts")
		if err := os.WriteFile(khPath, data[KeyKnownHosts], 0o600); err != nil {
			return nil, err
		}
		callback, err := knownhosts.New(khPath)
		if err != nil {
			return nil, fmt.Errorf("%w: parsing '%s': %v", ErrInvalidSecret, KeyKnownHosts, err)
		}
		keys.HostKeyCallback = callback
		keys.HostKeyAlgorithms = hostKeyAlgorithms(data[KeyKnownHosts])
		a.Method = keys
		if p := string(data[KeyPassword]); p != "" {
			a.Secrets = append(a.Secrets, p)
		}
		return a, nil
	default:
		return nil, fmt.Errorf("unsupported URL scheme %q", u.Scheme)
	}
}

// hostKeyAlgorithms offers the server only the key types known_hosts can verify, so that the
// handshake does not pick a type the file lacks.
func hostKeyAlgorithms(knownHosts []byte) []string {
	seen := map[string]bool{}
	var algos []string
	rest := knownHosts
	for len(rest) > 0 {
		_, _, key, _, r, err := ssh.ParseKnownHosts(rest)
		if err != nil {
			break
		}
		rest = r
		for _, a := range algorithmsFor(key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// Proxy Secret keys, as in Flux's spec.proxySecretRef.
const (
	KeyProxyAddress = "address"
)

// SetProxy configures the proxy from a proxySecretRef's data: 'address' (required), and
// optional 'username' and 'password'.
func (a *Auth) SetProxy(data map[string][]byte) error {
	addr := string(data[KeyProxyAddress])
	if addr == "" {
		return fmt.Errorf("%w: the proxy secret has no '%s'", ErrInvalidSecret, KeyProxyAddress)
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: the proxy address is not a URL", ErrInvalidSecret)
	}
	a.Proxy = transport.ProxyOptions{URL: addr, Username: string(data[KeyUsername]), Password: string(data[KeyPassword])}
	if a.Proxy.Password != "" {
		a.Secrets = append(a.Secrets, a.Proxy.Password)
	}
	return nil
}
