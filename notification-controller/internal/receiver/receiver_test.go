package receiver

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

const token = "s3cr3t-t0ken"

func namespace(t *testing.T, ns string) {
	t.Helper()
	err := env.Client.Create(testenv.Context(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func tokenSecret(t *testing.T, ns, name string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"token": []byte(token)}}
	if err := env.Client.Create(testenv.Context(t), s); err != nil {
		t.Fatal(err)
	}
}

// gitRepository creates a GitRepository to be selected by Receivers.
func gitRepository(t *testing.T, ns, name string, labels map[string]string) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     map[string]any{"url": "https://git.example.com/" + name + ".git", "interval": "1h"},
	}}
	u.SetLabels(labels)
	if err := env.Client.Create(testenv.Context(t), u); err != nil {
		t.Fatal(err)
	}
}

// requestedAt is the GitRepository's reconcile.fluxcd.io/requestedAt.
func requestedAt(t *testing.T, ns, name string) string {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("source.toolkit.fluxcd.io/v1")
	u.SetKind("GitRepository")
	if err := env.Client.Get(testenv.Context(t), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	return u.GetAnnotations()[meta.ReconcileRequestAnnotation]
}

// receiver creates a Receiver of kind over the GitRepositories in resources.
func receiver(t *testing.T, ns, name, kind string, mutate ...func(*notifyv1.Receiver)) *notifyv1.Receiver {
	t.Helper()
	r := &notifyv1.Receiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: notifyv1.ReceiverSpec{
			Type:      kind,
			SecretRef: &meta.LocalObjectReference{Name: "token"},
			Resources: []notifyv1.CrossNamespaceObjectReference{{Kind: "GitRepository", Name: "app"}},
		},
	}
	for _, m := range mutate {
		m(r)
	}
	if err := env.Client.Create(testenv.Context(t), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitReceiver waits until cond holds for the Receiver, and returns it.
func waitReceiver(t *testing.T, r *notifyv1.Receiver, cond func(*notifyv1.Receiver) error) *notifyv1.Receiver {
	t.Helper()
	got := &notifyv1.Receiver{}
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(r), got); err != nil {
			return err
		}
		return cond(got)
	})
	return got
}

func ready(r *notifyv1.Receiver) error {
	if !conditions.IsTrue(r, meta.ReadyCondition) || r.Status.ObservedGeneration != r.Generation {
		return fmt.Errorf("not Ready: %+v", r.Status.Conditions)
	}
	return nil
}

func readyCondition(r *notifyv1.Receiver) *metav1.Condition {
	for i := range r.Status.Conditions {
		if r.Status.Conditions[i].Type == meta.ReadyCondition {
			return &r.Status.Conditions[i]
		}
	}
	return nil
}

// post sends body to the path with the headers and returns the status code.
func post(t *testing.T, path string, body []byte, headers map[string]string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(testenv.Context(t), http.MethodPost, hookURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func signature(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// A Receiver's path is Flux's: sha256 of the token, its name and namespace, and Ready says so.
func TestReceiverIsGivenItsWebhookPath(t *testing.T) {
	ns := "receiver-path"
	namespace(t, ns)
	r := receiver(t, ns, "hook", notifyv1.GenericReceiver)
	// No token yet: not Ready, and the message names the Secret.
	got := waitReceiver(t, r, func(r *notifyv1.Receiver) error {
		if c := readyCondition(r); c == nil || c.Status != metav1.ConditionFalse || c.Reason != meta.TokenNotFoundReason || !strings.Contains(c.Message, "'receiver-path/token' does not exist") {
			return fmt.Errorf("ready = %+v", c)
		}
		return nil
	})
	if got.Status.WebhookPath != "" {
		t.Errorf("a path without a token: %s", got.Status.WebhookPath)
	}
	tokenSecret(t, ns, "token")
	got = waitReceiver(t, r, ready)
	want := fmt.Sprintf("/hook/%x", sha256.Sum256([]byte(token+"hook"+ns)))
	if got.Status.WebhookPath != want || readyCondition(got).Message != "Receiver initialized for path: "+want {
		t.Errorf("path %q, message %q; want %q", got.Status.WebhookPath, readyCondition(got).Message, want)
	}
}

// What no call could be served with is refused in the status: a filter or an OIDC
// validation that does not compile.
func TestReceiverRefusesWhatItCannotServe(t *testing.T) {
	ns := "receiver-refused"
	namespace(t, ns)
	tokenSecret(t, ns, "token")
	for name, c := range map[string]struct {
		kind, filter, reason string
	}{
		"bad-oidc":   {kind: notifyv1.GenericOIDCReceiver, reason: meta.InvalidCELExpressionReason},
		"bad-filter": {kind: notifyv1.GenericReceiver, filter: "res.metadata.name ==", reason: meta.InvalidCELExpressionReason},
	} {
		r := receiver(t, ns, name, c.kind, func(r *notifyv1.Receiver) {
			r.Spec.ResourceFilter = c.filter
			if c.kind == notifyv1.GenericOIDCReceiver {
				r.Spec.SecretRef = nil
				r.Spec.OIDCProviders = []notifyv1.OIDCProvider{{IssuerURL: "https://issuer.example.com",
					Validations: []notifyv1.OIDCValidation{{Expression: "claims.sub ==", Message: "m"}}}}
			}
		})
		waitReceiver(t, r, func(r *notifyv1.Receiver) error {
			if !conditions.IsTrue(r, meta.StalledCondition) || readyCondition(r).Reason != c.reason {
				return fmt.Errorf("conditions %+v", r.Status.Conditions)
			}
			return nil
		})
	}
}

// Calls to a Receiver's path: only a valid one, of an event it wants, asks for a reconcile of
// the objects it selects.
func TestReceiverRequestsReconcilesOnValidCalls(t *testing.T) {
	ns := "receiver-calls"
	namespace(t, ns)
	tokenSecret(t, ns, "token")
	gitRepository(t, ns, "app", nil)
	push := []byte(`{"ref":"refs/heads/main","after":"0123456789abcdef"}`)
	github := waitReceiver(t, receiver(t, ns, "github", notifyv1.GitHubReceiver, func(r *notifyv1.Receiver) { r.Spec.Events = []string{"push"} }), ready)
	gitlab := waitReceiver(t, receiver(t, ns, "gitlab", notifyv1.GitLabReceiver), ready)
	hmacR := waitReceiver(t, receiver(t, ns, "hmac", notifyv1.GenericHMACReceiver), ready)
	suspended := waitReceiver(t, receiver(t, ns, "suspended", notifyv1.GenericReceiver), ready)
	suspended.Spec.Suspend = true
	if err := env.Client.Update(testenv.Context(t), suspended); err != nil {
		t.Fatal(err)
	}

	calls(t, ns, []call{
		{"unknown path", "/hook/0000", push, nil, http.StatusNotFound, false},
		{"github, no signature", github.Status.WebhookPath, push, map[string]string{"X-GitHub-Event": "push"}, http.StatusBadRequest, false},
		{"github, signed with another key", github.Status.WebhookPath, push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": signature(push, "other")}, http.StatusBadRequest, false},
		{"github, signature of another body", github.Status.WebhookPath, push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": signature([]byte("{}"), token)}, http.StatusBadRequest, false},
		{"github, malformed signature", github.Status.WebhookPath, push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=zz"}, http.StatusBadRequest, false},
		{"github, an event not wanted", github.Status.WebhookPath, push, map[string]string{"X-GitHub-Event": "issues", "X-Hub-Signature-256": signature(push, token)}, http.StatusBadRequest, false},
		{"github, ping", github.Status.WebhookPath, push, map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature(push, token)}, http.StatusOK, false},
		{"gitlab, wrong token", gitlab.Status.WebhookPath, push, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"}, http.StatusBadRequest, false},
		{"generic-hmac, unsigned", hmacR.Status.WebhookPath, push, nil, http.StatusBadRequest, false},
		{"suspended", suspended.Status.WebhookPath, push, nil, http.StatusServiceUnavailable, false},
		{"oversized", github.Status.WebhookPath, bytes.Repeat([]byte("x"), MaxBodyBytes+1), map[string]string{"X-GitHub-Event": "push"}, http.StatusRequestEntityTooLarge, false},
		{"github, signed push", github.Status.WebhookPath, push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": signature(push, token)}, http.StatusOK, true},
		{"gitlab, token", gitlab.Status.WebhookPath, push, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": token}, http.StatusOK, true},
		{"generic-hmac, signed", hmacR.Status.WebhookPath, push, map[string]string{"X-Signature": signature(push, token)}, http.StatusOK, true},
	})
}

// A Receiver selects by name, by '*' and labels, and by CEL filters over the object and the
// body; it never reaches into another namespace under --no-cross-namespace-refs.
func TestReceiverSelectsItsObjects(t *testing.T) {
	ns := "receiver-select"
	namespace(t, ns)
	tokenSecret(t, ns, "token")
	gitRepository(t, ns, "app", map[string]string{"team": "web"})
	gitRepository(t, ns, "infra", map[string]string{"team": "ops"})
	gitRepository(t, ns, "docs", map[string]string{"team": "web"})
	r := waitReceiver(t, receiver(t, ns, "select", notifyv1.GenericReceiver, func(r *notifyv1.Receiver) {
		r.Spec.Resources = []notifyv1.CrossNamespaceObjectReference{{Kind: "GitRepository", Name: "*", MatchLabels: map[string]string{"team": "web"}, Filter: "res.metadata.name != 'docs'"}}
		r.Spec.ResourceFilter = "req.ref == 'refs/heads/main'"
	}), ready)
	if code := post(t, r.Status.WebhookPath, []byte(`{"ref":"refs/heads/feature"}`), nil); code != http.StatusOK {
		t.Fatalf("a push to another branch: %d", code)
	}
	for _, name := range []string{"app", "infra", "docs"} {
		if v := requestedAt(t, ns, name); v != "" {
			t.Errorf("a push to another branch annotated %s", name)
		}
	}
	if code := post(t, r.Status.WebhookPath, []byte(`{"ref":"refs/heads/main"}`), nil); code != http.StatusOK {
		t.Fatalf("a push to main: %d", code)
	}
	for name, want := range map[string]bool{"app": true, "infra": false, "docs": false} {
		if got := requestedAt(t, ns, name) != ""; got != want {
			t.Errorf("%s annotated: %v, want %v", name, got, want)
		}
	}

	other := "receiver-elsewhere"
	namespace(t, other)
	gitRepository(t, other, "app", nil)
	cross := waitReceiver(t, receiver(t, ns, "cross", notifyv1.GenericReceiver, func(r *notifyv1.Receiver) {
		r.Spec.Resources = []notifyv1.CrossNamespaceObjectReference{{Kind: "GitRepository", Name: "app", Namespace: other}}
	}), ready)
	if code := post(t, cross.Status.WebhookPath, nil, nil); code != http.StatusBadRequest {
		t.Errorf("a resource in another namespace: %d, want 400", code)
	}
	if v := requestedAt(t, other, "app"); v != "" {
		t.Errorf("the other namespace's GitRepository was annotated")
	}
}
