package alert

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/notification-controller/internal/notifier"
	"github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
)

// resolved is a Provider ready to post: its notifier and the values its errors must not show.
type resolved struct {
	notifier notifier.Notifier
	secrets  []string
}

// resolve reads the Provider's Secrets and builds its notifier. Its errors never carry a
// Secret's value.
func (d *Dispatcher) resolve(ctx context.Context, p *notifyv1beta3.Provider, a *notifyv1beta3.Alert) (*resolved, error) {
	cfg := notifier.Config{
		Type:           p.Spec.Type,
		Address:        p.Spec.Address,
		Channel:        p.Spec.Channel,
		Username:       p.Spec.Username,
		ProviderUID:    string(p.UID),
		AlertNamespace: a.Namespace, AlertName: a.Name, AlertUID: string(a.UID),
	}
	proxy := proxyConfig{address: p.Spec.Proxy}
	if ref := p.Spec.SecretRef; ref != nil {
		secret, err := d.secret(ctx, p.Namespace, ref.Name, "secretRef")
		if err != nil {
			return nil, err
		}
		if v := string(secret.Data["address"]); v != "" {
			cfg.Address = v
		}
		if v := string(secret.Data["username"]); v != "" {
			cfg.Username = v
		}
		cfg.Token = string(secret.Data["token"])
		cfg.Password = string(secret.Data["password"])
		if v := string(secret.Data["proxy"]); v != "" {
			proxy.address = v
		}
		if h := secret.Data["headers"]; len(h) > 0 {
			if err := yaml.Unmarshal(h, &cfg.Headers); err != nil {
				return nil, fmt.Errorf("the 'headers' of the Provider's Secret '%s' are not a YAML map of strings", ref.Name)
			}
		}
	}
	if ref := p.Spec.ProxySecretRef; ref != nil {
		secret, err := d.secret(ctx, p.Namespace, ref.Name, "proxySecretRef")
		if err != nil {
			return nil, err
		}
		proxy = proxyConfig{address: string(secret.Data["address"]), username: string(secret.Data["username"]), password: string(secret.Data["password"])}
		if proxy.address == "" {
			return nil, fmt.Errorf("the Provider's proxy Secret '%s' has no 'address'", ref.Name)
		}
	}
	var certs *corev1.Secret
	if ref := p.Spec.CertSecretRef; ref != nil {
		var err error
		if certs, err = d.secret(ctx, p.Namespace, ref.Name, "certSecretRef"); err != nil {
			return nil, err
		}
	}
	client, err := d.httpClient(certs, proxy)
	if err != nil {
		return nil, err
	}
	cfg.Client = client
	if expr := p.Spec.CommitStatusExpr; expr != "" {
		if cfg.CommitStatusID, err = statusExpr(expr, a, p); err != nil {
			return nil, err
		}
	}
	n, err := notifier.New(cfg)
	if err != nil {
		return nil, err
	}
	secrets := []string{cfg.Address, cfg.Token, cfg.Password, proxy.address, proxy.password}
	for _, v := range cfg.Headers {
		secrets = append(secrets, v)
	}
	return &resolved{notifier: n, secrets: secrets}, nil
}

// secret reads one of the Provider's Secrets, saying which reference failed.
func (d *Dispatcher) secret(ctx context.Context, namespace, name, field string) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	if err := d.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		return nil, &notifier.Error{Retry: true, Err: fmt.Errorf("the Provider's %s '%s' cannot be read: %v", field, name, err)}
	}
	return secret, nil
}

type proxyConfig struct {
	address, username, password string
}

// maxClients bounds the HTTP clients kept, one per distinct TLS and proxy configuration, so
// that deliveries reuse connections.
const maxClients = 128

// httpClient is the client for the certificates and proxy, from the cache when it was built
// before.
func (d *Dispatcher) httpClient(certs *corev1.Secret, proxy proxyConfig) (*http.Client, error) {
	if certs == nil && proxy.address == "" {
		return http.DefaultClient, nil
	}
	h := sha256.New()
	for _, part := range []string{proxy.address, proxy.username, proxy.password} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	if certs != nil {
		for _, k := range []string{"ca.crt", "tls.crt", "tls.key", "caFile", "certFile", "keyFile"} {
			h.Write(certs.Data[k])
			h.Write([]byte{0})
		}
	}
	key := hex.EncodeToString(h.Sum(nil))
	d.clientsMu.Lock()
	defer d.clientsMu.Unlock()
	if c, ok := d.clients[key]; ok {
		return c, nil
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if certs != nil {
		cfg, err := tlsConfig(certs)
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig = cfg
	}
	if proxy.address != "" {
		u, err := url.Parse(proxy.address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("the Provider's proxy address is not an http(s) URL")
		}
		if proxy.username != "" || proxy.password != "" {
			u.User = url.UserPassword(proxy.username, proxy.password)
		}
		transport.Proxy = http.ProxyURL(u)
	}
	if d.clients == nil || len(d.clients) >= maxClients {
		d.clients = map[string]*http.Client{}
	}
	c := &http.Client{Transport: transport}
	d.clients[key] = c
	return c, nil
}

// tlsConfig reads ca.crt, and tls.crt with tls.key, as Flux does (caFile, certFile and
// keyFile are the older names).
func tlsConfig(secret *corev1.Secret) (*tls.Config, error) {
	pick := func(keys ...string) []byte {
		for _, k := range keys {
			if v := secret.Data[k]; len(v) > 0 {
				return v
			}
		}
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca := pick("ca.crt", "caFile"); ca != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("the 'ca.crt' of the Provider's certSecretRef '%s' holds no PEM certificate", secret.Name)
		}
		cfg.RootCAs = pool
	}
	cert, key := pick("tls.crt", "certFile"), pick("tls.key", "keyFile")
	switch {
	case cert != nil && key != nil:
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("the 'tls.crt' and 'tls.key' of the Provider's certSecretRef '%s' are not a certificate and its key", secret.Name)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case cert != nil || key != nil:
		return nil, fmt.Errorf("the Provider's certSecretRef '%s' needs both 'tls.crt' and 'tls.key'", secret.Name)
	}
	if cfg.RootCAs == nil && cfg.Certificates == nil {
		return nil, fmt.Errorf("the Provider's certSecretRef '%s' has neither 'ca.crt' nor 'tls.crt' and 'tls.key'", secret.Name)
	}
	return cfg, nil
}

// statusExpr compiles the Provider's commitStatusExpr; it sees the event, the Alert and the
// Provider, as Flux's does.
func statusExpr(expr string, a *notifyv1beta3.Alert, p *notifyv1beta3.Provider) (func(*event.Event) (string, error), error) {
	prog, err := cel.CompileString([]string{"event", "alert", "provider"}, expr)
	if err != nil {
		return nil, fmt.Errorf("spec.commitStatusExpr: %v", err)
	}
	alert, err := asMap(a)
	if err != nil {
		return nil, err
	}
	provider, err := asMap(p)
	if err != nil {
		return nil, err
	}
	return func(ev *event.Event) (string, error) {
		e, err := asMap(ev)
		if err != nil {
			return "", err
		}
		return prog.Eval(map[string]any{"event": e, "alert": alert, "provider": provider})
	}, nil
}

func asMap(obj any) (map[string]any, error) {
	if o, ok := obj.(runtime.Object); ok {
		return runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, json.Unmarshal(data, &m)
}

// scrub removes the Provider's secrets, and the host of its address, from a message.
func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, s, "<redacted>")
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			msg = strings.ReplaceAll(msg, u.Host, "<redacted>")
		}
	}
	return msg
}

// accepts reports whether the Provider is sent the event at all, by its type.
func accepts(p *notifyv1beta3.Provider, ev *event.Event) bool {
	return notifier.Accepts(p.Spec.Type, ev)
}
