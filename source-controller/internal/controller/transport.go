package controller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/source-controller/internal/git"
)

// newTransport is an HTTP transport with the TLS settings of a certSecretRef's data ('ca.crt'
// or the legacy 'caFile', and 'tls.crt' with 'tls.key' for mutual TLS); the system's roots
// when certs is nil.
func newTransport(certs map[string][]byte) (*http.Transport, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if certs == nil {
		return transport, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	ca := certs[git.KeyCA]
	if len(ca) == 0 {
		ca = certs[git.KeyCALegacy]
	}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("the CA certificate ('ca.crt') is not PEM")
		}
		cfg.RootCAs = pool
	}
	cert, key := certs[git.KeyTLSCert], certs[git.KeyTLSKey]
	if (len(cert) == 0) != (len(key) == 0) {
		return nil, errors.New("a client certificate needs both 'tls.crt' and 'tls.key'")
	}
	if len(cert) > 0 {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, errors.New("'tls.crt' and 'tls.key' are not a certificate and its key")
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	transport.TLSClientConfig = cfg
	return transport, nil
}

// secretTransport is the HTTP transport of a source's certSecretRef and proxySecretRef (either
// may be nil), read from namespace; it returns the proxy password, if any, to redact.
func secretTransport(ctx context.Context, reader client.Reader, namespace string, certRef, proxyRef *meta.LocalObjectReference) (*http.Transport, []string, error) {
	certs, err := readSecret(ctx, reader, namespace, certRef)
	if err != nil {
		return nil, nil, err
	}
	transport, err := newTransport(certs)
	if err != nil {
		return nil, nil, fmt.Errorf("secret '%s': %w", certRef.Name, err)
	}
	if proxyRef == nil {
		return transport, nil, nil
	}
	data, err := readSecret(ctx, reader, namespace, proxyRef)
	if err != nil {
		return nil, nil, err
	}
	pass, err := setProxy(transport, data)
	if err != nil {
		return nil, nil, fmt.Errorf("secret '%s': %w", proxyRef.Name, err)
	}
	if pass == "" {
		return transport, nil, nil
	}
	return transport, []string{pass}, nil
}

// setProxy sends t's requests through the proxy of a proxySecretRef's data: 'address'
// (required), optional 'username' and 'password'. It returns the password, which must never
// be shown; errors never hold the address, which may carry credentials.
func setProxy(t *http.Transport, data map[string][]byte) (secret string, err error) {
	addr := string(data[git.KeyProxyAddress])
	if addr == "" {
		return "", fmt.Errorf("the proxy secret has no '%s'", git.KeyProxyAddress)
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "", errors.New("the proxy address is not a URL")
	}
	switch u.Scheme {
	case "http", "https", "socks5":
	default:
		return "", fmt.Errorf("the proxy scheme '%s' is not http, https or socks5", u.Scheme)
	}
	if user := string(data[git.KeyUsername]); user != "" {
		secret = string(data[git.KeyPassword])
		u.User = url.UserPassword(user, secret)
	}
	t.Proxy = http.ProxyURL(u)
	return secret, nil
}
