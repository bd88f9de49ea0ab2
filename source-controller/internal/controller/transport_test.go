package controller

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/gitkit"
	"github.com/fluxcd/pkg/gittestserver"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and a client certificate, in PEM.
type testPKI struct{ caPEM, certPEM, keyPEM, clientCertPEM, clientKeyPEM []byte }

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "driftless test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clientTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "source-controller"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, ca, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientKeyDER, _ := x509.MarshalECPrivateKey(clientKey)
	return testPKI{
		caPEM:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:        pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		clientCertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER}),
		clientKeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: clientKeyDER}),
	}
}

// mutualTLSProxy serves HTTPS on 127.0.0.1, requires a client certificate signed by the test
// CA, and forwards to backend.
func mutualTLSProxy(t *testing.T, pki testPKI, backend string) string {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	cert, err := tls.X509KeyPair(pki.certPEM, pki.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.caPEM)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestGitRepositoryTLSClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	srv := newGitServer(t)
	rp := newRepo(t, srv, "org/mtls.git", map[string]string{"a": "a"})
	head := rp.commit(map[string]string{"b": "b"}, "b")
	rp.push("main")
	repoURL := mutualTLSProxy(t, pki, srv.HTTPAddress()) + "/org/mtls.git"

	secret(t, "ca-only", map[string]string{"ca.crt": string(pki.caPEM)})
	refused := gitRepository(t, "mtls-refused", repoURL, withSecret("ca-only"))
	waitNotReady(t, refused, "")

	secret(t, "client-cert", map[string]string{
		"ca.crt": string(pki.caPEM), "tls.crt": string(pki.clientCertPEM), "tls.key": string(pki.clientKeyPEM),
	})
	obj := gitRepository(t, "mtls", repoURL, withSecret("client-cert"))
	waitRevision(t, obj, "main@sha1:"+head)
	assertNoSecret(t, obj, strings.Split(string(pki.clientKeyPEM), "\n")[1])

	secret(t, "half-pair", map[string]string{"ca.crt": string(pki.caPEM), "tls.crt": string(pki.clientCertPEM)})
	half := gitRepository(t, "mtls-half", repoURL, withSecret("half-pair"))
	waitNotReady(t, half, "tls.crt and tls.key must be set together")
}

func waitNotReady(t *testing.T, obj *sourcev1.GitRepository, messagePart string) *sourcev1.GitRepository {
	t.Helper()
	var got *sourcev1.GitRepository
	testenv.Eventually(t, 30*time.Second, func() error {
		got = get(t, obj)
		c := findCondition(got, meta.ReadyCondition)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, messagePart) {
			return fmt.Errorf("ready = %+v, want False with %q", c, messagePart)
		}
		return nil
	})
	return got
}

func TestGitRepositoryHTTPSWithCAAndBearerToken(t *testing.T) {
	const token = "ghp_t0k3n-for-tests"
	pki := newTestPKI(t)
	srv := newGitServer(t, func(s *gittestserver.GitServer) {
		s.AddHTTPMiddlewares(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+token {
					http.Error(w, "unauthorized", http.StatusUnauthorized)
					return
				}
				next.ServeHTTP(w, r)
			})
		})
	})
	if err := srv.StartHTTPS(pki.certPEM, pki.keyPEM, pki.caPEM, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.HTTPAddress(), "https://") {
		t.Fatalf("server is not on https: %s", srv.HTTPAddress())
	}
	rp := newRepo(t, srv, "org/tls.git", map[string]string{"a": "a"})
	head := rp.commit(map[string]string{"b": "b"}, "b")
	rp.push("main")

	// Without the CA the server is not trusted.
	secret(t, "token-no-ca", map[string]string{"bearerToken": token})
	untrusted := gitRepository(t, "tls-untrusted", srv.url("org/tls.git"), withSecret("token-no-ca"))
	waitNotReady(t, untrusted, "certificate")
	assertNoSecret(t, untrusted, token)

	// Without the token the server refuses.
	secret(t, "ca-no-token", map[string]string{"ca.crt": string(pki.caPEM)})
	anonymous := gitRepository(t, "tls-anonymous", srv.url("org/tls.git"), withSecret("ca-no-token"))
	waitNotReady(t, anonymous, "authentication required")

	secret(t, "token-and-ca", map[string]string{"bearerToken": token, "ca.crt": string(pki.caPEM)})
	obj := gitRepository(t, "tls", srv.url("org/tls.git"), withSecret("token-and-ca"))
	waitRevision(t, obj, "main@sha1:"+head)
	assertNoSecret(t, obj, token)
}

func TestGitRepositoryBearerTokenRefusedOverPlainHTTP(t *testing.T) {
	srv := newGitServer(t)
	newRepo(t, srv, "org/plain.git", map[string]string{"a": "a"})
	secret(t, "plain-token", map[string]string{"bearerToken": "tok3n-value"})
	obj := gitRepository(t, "plain-token", srv.url("org/plain.git"), withSecret("plain-token"))
	got := waitNotReady(t, obj, "a bearer token is only sent over https")
	if c := findCondition(got, meta.ReadyCondition); c.Reason != sourcev1.AuthenticationFailedReason {
		t.Fatalf("reason = %s", c.Reason)
	}
}

// sshServer starts the Git server's SSH endpoint, accepting only clientKey, and returns the
// known_hosts line for its host key.
func sshServer(t *testing.T, srv *gitServer, clientKey ssh.PublicKey) string {
	t.Helper()
	keyDir := t.TempDir()
	srv.KeyDir(keyDir)
	srv.Auth("git", "unused-for-ssh")
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(clientKey)))
	srv.PublicKeyLookupFunc(func(content string) (*gitkit.PublicKey, error) {
		if content != authorized {
			return nil, errors.New("unknown key")
		}
		return &gitkit.PublicKey{Id: "driftless"}, nil
	})
	if err := srv.ListenSSH(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.StartSSH() }()
	t.Cleanup(func() { _ = srv.StopSSH() })

	hostKeyPEM, err := os.ReadFile(filepath.Join(keyDir, "gitkit.rsa"))
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.ParsePrivateKey(hostKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.SSHAddress(), "ssh://git@")
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey.PublicKey())
}

func newSSHIdentity(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	return string(pem.EncodeToMemory(block)), sshPub
}

func TestGitRepositorySSH(t *testing.T) {
	srv := newGitServer(t)
	identity, pub := newSSHIdentity(t)
	knownHosts := sshServer(t, srv, pub)
	rp := newRepo(t, srv, "org/ssh.git", map[string]string{"a": "a"})
	head := rp.commit(map[string]string{"b": "b"}, "b")
	rp.push("main")
	url := srv.SSHAddress() + "/org/ssh.git"

	secret(t, "ssh-good", map[string]string{"identity": identity, "known_hosts": knownHosts})
	obj := gitRepository(t, "ssh", url, withSecret("ssh-good"))
	got := waitRevision(t, obj, "main@sha1:"+head)
	if files := download(t, got.Status.Artifact); files["b"] != "b" {
		t.Fatalf("files = %v", files)
	}

	// A host key that does not match known_hosts is refused.
	_, otherPub := newSSHIdentity(t)
	addr := strings.TrimPrefix(srv.SSHAddress(), "ssh://git@")
	secret(t, "ssh-wrong-host", map[string]string{"identity": identity, "known_hosts": knownhosts.Line([]string{knownhosts.Normalize(addr)}, otherPub)})
	spoofed := gitRepository(t, "ssh-spoofed", url, withSecret("ssh-wrong-host"))
	got = waitNotReady(t, spoofed, "")
	if c := findCondition(got, sourcev1.FetchFailedCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("FetchFailed = %+v", c)
	}

	// A key the server does not know is refused.
	stranger, _ := newSSHIdentity(t)
	secret(t, "ssh-stranger", map[string]string{"identity": stranger, "known_hosts": knownHosts})
	denied := gitRepository(t, "ssh-denied", url, withSecret("ssh-stranger"))
	waitNotReady(t, denied, "")
	assertNoSecret(t, denied, strings.Split(stranger, "\n")[1])

	// An ssh URL without known_hosts is a configuration error, said plainly.
	secret(t, "ssh-no-known-hosts", map[string]string{"identity": identity})
	unverified := gitRepository(t, "ssh-unverified", url, withSecret("ssh-no-known-hosts"))
	waitNotReady(t, unverified, "'known_hosts' is required")
}

// Secrets are read from the API server when a GitRepository needs one, never cached: a cache
// would hold every Secret in the cluster (Helm's releases included) in source-controller's
// memory. Seen from the API server, the controller opens no watch on Secrets (the API server
// keeps one of its own).
func TestGitRepositoryDoesNotCacheSecrets(t *testing.T) {
	before, err := env.Watches(testenv.Context(t), "secrets")
	if err != nil {
		t.Fatal(err)
	}
	srv := newGitServer(t)
	newRepo(t, srv, "org/uncached.git", map[string]string{"a": "a"})
	secret(t, "uncached-auth", map[string]string{"username": "git", "password": "hunter2"})
	obj := gitRepository(t, "uncached", srv.url("org/uncached.git"), func(o *sourcev1.GitRepository) {
		o.Spec.SecretRef = &meta.LocalObjectReference{Name: "uncached-auth"}
	})
	testenv.Eventually(t, 30*time.Second, func() error {
		if g := get(t, obj); g.Status.Artifact == nil {
			return fmt.Errorf("no artifact yet")
		}
		return nil
	})
	if n, err := env.Watches(testenv.Context(t), "secrets"); err != nil || n != before {
		t.Fatalf("%d watches on Secrets are open (%v), want the API server's %d", n, err, before)
	}
}

// A submodule is fetched with the parent's CA (and client certificate and proxy): one on
// another HTTPS server that only the test CA makes trusted is fetched too.
func TestGitRepositorySubmoduleUsesTheParentsCA(t *testing.T) {
	pki := newTestPKI(t)
	parent, lib := newGitServer(t), newGitServer(t)
	for _, s := range []*gitServer{parent, lib} {
		if err := s.StartHTTPS(pki.certPEM, pki.keyPEM, pki.caPEM, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	newRepo(t, lib, "org/lib-tls.git", map[string]string{"lib.txt": "over TLS"})
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pki.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "protocol.allow=always"}, args...)...)
		cmd.Dir = work
		// The submodule's clone is a git of its own: it reads the CA from the environment.
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_SSL_CAINFO="+caFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("submodule", "add", "-q", lib.url("org/lib-tls.git"), "vendor/lib")
	git("commit", "-q", "-m", "a submodule over TLS")
	bare := filepath.Join(parent.Root(), "org/app-tls.git")
	git("init", "-q", "--bare", bare)
	git("push", "-q", bare, "main")

	secret(t, "sub-ca", map[string]string{"ca.crt": string(pki.caPEM)})
	obj := gitRepository(t, "sub-tls", parent.url("org/app-tls.git"), withSecret("sub-ca"), func(o *sourcev1.GitRepository) {
		o.Spec.RecurseSubmodules = true
	})
	testenv.Eventually(t, 30*time.Second, func() error {
		if g := get(t, obj); g.Status.Artifact == nil {
			return fmt.Errorf("no artifact yet: %+v", g.Status.Conditions)
		}
		return nil
	})
	if files := download(t, get(t, obj).Status.Artifact); files["vendor/lib/lib.txt"] != "over TLS" {
		t.Fatalf("files = %v", keys(files))
	}
}
