// Package notifier sends events to the services a Provider names: chats, incident tools,
// webhooks and Git hosts. Each type formats the event as its service expects, as Flux does;
// every request goes through one HTTP client that the caller builds (TLS, proxy) and one
// helper that keeps addresses and credentials out of errors.
package notifier

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

// Notifier posts one event to one service.
type Notifier interface {
	Post(ctx context.Context, ev *event.Event) error
}

// Config is a Provider resolved: its spec with the Secret's values applied.
type Config struct {
	Type     string
	Address  string
	Channel  string
	Username string
	Password string
	Token    string
	Headers  map[string]string
	// ProviderUID makes commit status ids and comment markers unique per cluster.
	ProviderUID string
	// CommitStatusID, when set, computes a commit status's id (the Provider's
	// commitStatusExpr); otherwise it is <kind>/<name>/<first segment of the Provider UID>.
	CommitStatusID func(ev *event.Event) (string, error)
	// AlertNamespace, AlertName and AlertUID name the Alert a delivery is for (the otel
	// Provider's traces).
	AlertNamespace, AlertName, AlertUID string
	// Client sends every request; nil is http.DefaultClient.
	Client *http.Client
}

// Error is a failed delivery; Retry says whether another attempt may succeed.
type Error struct {
	Retry bool
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether err leaves a chance that the same delivery succeeds later.
func Retryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retry
}

// permanent is an error that another attempt would repeat.
func permanent(format string, args ...any) error {
	return &Error{Err: fmt.Errorf(format, args...)}
}

// CommitStatusTypes are the Providers that set a status on the commit an event names.
var CommitStatusTypes = []string{"github", "gitlab", "gitea", "bitbucket", "bitbucketserver", "azuredevops"}

// ChangeRequestTypes are the Providers that comment on the pull or merge request an event names.
var ChangeRequestTypes = []string{"githubpullrequestcomment", "gitlabmergerequestcomment", "giteapullrequestcomment"}

// Accepts reports whether a Provider of the type is sent the event, as Flux decides: commit
// statuses need a revision, comments need a change request, and the events that only update
// a commit status go to the commit status Providers alone. The event's metadata keys are
// those of the payload, without their group prefix.
func Accepts(providerType string, ev *event.Event) bool {
	switch {
	case slices.Contains(CommitStatusTypes, providerType):
		_, ok := commitOf(ev)
		return ok
	case slices.Contains(ChangeRequestTypes, providerType):
		return ev.Metadata[event.MetaChangeRequestKey] != ""
	default:
		return ev.Metadata[event.MetaCommitStatusKey] != event.MetaCommitStatusUpdate
	}
}

// New returns the Notifier of the Provider's type, or an error that names what is missing.
// Errors never carry the address or a credential.
func New(cfg Config) (Notifier, error) {
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	build, ok := types[cfg.Type]
	if !ok {
		return nil, permanent("provider type '%s' is not supported by this version of notification-controller", cfg.Type)
	}
	n, err := build(&cfg)
	if err != nil {
		return nil, &Error{Err: err}
	}
	return n, nil
}

// types builds a Notifier per Provider type.
var types = map[string]func(*Config) (Notifier, error){}

func register(name string, build func(*Config) (Notifier, error)) { types[name] = build }

// Supported reports whether the type can be built.
func Supported(providerType string) bool {
	_, ok := types[providerType]
	return ok
}

// httpURL parses an http(s) URL, for errors that never repeat it.
func httpURL(what, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the Provider's %s is not an http(s) URL", what)
	}
	return u, nil
}

// requireAddress is the check of the types that post to their address.
func requireAddress(cfg *Config) (*url.URL, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("a %s Provider needs an address", cfg.Type)
	}
	return httpURL("address", cfg.Address)
}

// addressed builds the types that need nothing but an address to post to.
func addressed(build func(*Config) Notifier) func(*Config) (Notifier, error) {
	return func(cfg *Config) (Notifier, error) {
		if _, err := requireAddress(cfg); err != nil {
			return nil, err
		}
		return build(cfg), nil
	}
}

// maxResponse bounds what is read of an answer.
const maxResponse = 1 << 20

// call is one request to a service.
type call struct {
	method string
	url    string
	// body is marshalled to JSON, unless it is a []byte or url.Values.
	body   any
	header map[string]string
	// user and password set basic auth when user or password is not empty.
	user, password string
	// into, when set, receives the JSON answer.
	into any
}

// do sends the call and checks the answer: 2xx succeeds; 5xx, 408, 429 and transport errors
// may succeed later. The error names neither the URL nor a header.
func (cfg *Config) do(ctx context.Context, c call) error {
	var body io.Reader
	contentType := "application/json"
	switch b := c.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case url.Values:
		body = strings.NewReader(b.Encode())
		contentType = "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return permanent("the payload cannot be encoded: %v", err)
		}
		body = bytes.NewReader(data)
	}
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url, body)
	if err != nil {
		return permanent("the request cannot be made")
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "driftless-notification-controller")
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if c.user != "" || c.password != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		// A certificate that is not trusted will not be trusted on the next attempt either.
		var untrusted *tls.CertificateVerificationError
		return &Error{Retry: !errors.As(err, &untrusted), Err: fmt.Errorf("posting failed: %s", withoutAddress(err, req.URL))}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout
		return &Error{Retry: retry, Err: fmt.Errorf("the provider answered %s", resp.Status)}
	}
	if c.into != nil && len(data) > 0 {
		if err := json.Unmarshal(data, c.into); err != nil {
			return permanent("the provider's answer is not the JSON expected: %v", err)
		}
	}
	return nil
}

// withoutAddress is a transport error's message without the URL, host or port it names:
// an address may be a credential (a webhook URL), and where it points is nobody's business
// in an event.
func withoutAddress(err error, u *url.URL) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var op *net.OpError
	if errors.As(err, &op) {
		err = fmt.Errorf("%s: %w", op.Op, op.Err)
	}
	msg := err.Error()
	for _, s := range []string{u.String(), u.Host, u.Hostname()} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "<address>")
		}
	}
	return msg
}

// withoutAddressText removes an address, its host and its host name from a library's message.
func withoutAddressText(msg, address string) string {
	if u, err := url.Parse(address); err == nil {
		return withoutAddress(errors.New(msg), u)
	}
	return strings.ReplaceAll(msg, address, "<address>")
}

// clientTLS is the TLS configuration of the Provider's client, for the libraries that make
// their own connections.
func clientTLS(c *http.Client) *tls.Config {
	if c == nil {
		return nil
	}
	if t, ok := c.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		return t.TLSClientConfig.Clone()
	}
	return nil
}

// basicAuth is an Authorization header's value for basic auth.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// timeUntil is the time left to a deadline, at least a millisecond.
func timeUntil(deadline time.Time) time.Duration {
	if d := time.Until(deadline); d > time.Millisecond {
		return d
	}
	return time.Millisecond
}

// objectName is how most chats title an event: kustomization/apps.flux-system.
func objectName(ev *event.Event) string {
	return strings.ToLower(ev.InvolvedObject.Kind) + "/" + ev.InvolvedObject.Name + "." + ev.InvolvedObject.Namespace
}

// objectID is kind/namespace/name, as the Markdown posts show it.
func objectID(ev *event.Event) string {
	return ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Namespace + "/" + ev.InvolvedObject.Name
}

// sortedKeys are the event's metadata keys in order, so that a message reads the same each time.
func sortedKeys(ev *event.Event, skip ...string) []string {
	keys := make([]string, 0, len(ev.Metadata))
	for k := range ev.Metadata {
		if !slices.Contains(skip, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// description is the reason in words: ReconciliationSucceeded is "reconciliation succeeded".
func description(ev *event.Event) string {
	var words []string
	var word []rune
	runes := []rune(ev.Reason)
	for i, r := range runes {
		boundary := i > 0 && unicode.IsUpper(r) &&
			(unicode.IsLower(runes[i-1]) || i+1 < len(runes) && unicode.IsLower(runes[i+1]))
		if boundary && len(word) > 0 {
			words = append(words, string(word))
			word = nil
		}
		word = append(word, r)
	}
	if len(word) > 0 {
		words = append(words, string(word))
	}
	return strings.ToLower(strings.Join(words, " "))
}

// severityEmoji marks a Markdown post.
func severityEmoji(ev *event.Event) string {
	if ev.Severity == event.SeverityError {
		return "⚠️"
	}
	return "ℹ️"
}

// markdown is the event as a Markdown post (Zulip, comments on pull requests).
func markdown(ev *event.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Flux Status\n\n%s %s\n\n%s\n\nMetadata:\n", severityEmoji(ev), objectID(ev), ev.Message)
	for _, k := range sortedKeys(ev, event.MetaChangeRequestKey) {
		fmt.Fprintf(&b, "* `%s`: %s\n", k, ev.Metadata[k])
	}
	return b.String()
}

// truncate shortens s to at most n runes.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
