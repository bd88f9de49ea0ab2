package receiver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // Nexus signs with HMAC-SHA1
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// issuer is an OIDC issuer on 127.0.0.1: a discovery document and the key set of one RSA key.
type issuer struct {
	*httptest.Server
	key *rsa.PrivateKey
}

func newIssuer() (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	iss := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss.URL, "jwks_uri": iss.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	iss.Server = httptest.NewServer(mux)
	return iss, nil
}

// token signs claims (with iss, iat and exp in an hour unless given) with key, the issuer's
// when nil.
func (iss *issuer) token(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	if key == nil {
		key = iss.key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]any{"iss": iss.URL, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		all[k] = v
	}
	raw, err := jwt.Signed(signer).Claims(all).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// call is one webhook call, and what it must do.
type call struct {
	name    string
	path    string
	body    []byte
	headers map[string]string
	code    int
	applied bool
}

func calls(t *testing.T, ns string, cases []call) {
	t.Helper()
	for _, c := range cases {
		before := requestedAt(t, ns, "app")
		if code := post(t, c.path, c.body, c.headers); code != c.code {
			t.Errorf("%s: %d, want %d", c.name, code, c.code)
		}
		if after := requestedAt(t, ns, "app"); (after != before) != c.applied {
			t.Errorf("%s: requestedAt %q → %q", c.name, before, after)
		}
		time.Sleep(2 * time.Millisecond) // the next stamp differs
	}
}

// generic-oidc accepts a token its issuer signed for its audience whose claims pass its
// validations; resourceFilter sees the claims; its path derives from the name alone.
func TestGenericOIDCReceiverVerifiesTheCallersToken(t *testing.T) {
	ns := "receiver-oidc"
	namespace(t, ns)
	gitRepository(t, ns, "app", nil)
	r := waitReceiver(t, receiver(t, ns, "oidc", notifyv1.GenericOIDCReceiver, func(r *notifyv1.Receiver) {
		r.Spec.SecretRef = nil
		r.Spec.OIDCProviders = []notifyv1.OIDCProvider{{
			IssuerURL:   oidcIssuer.URL,
			Variables:   []notifyv1.OIDCVariable{{Name: "repo", Expression: "claims.sub.split(':')[1]"}},
			Validations: []notifyv1.OIDCValidation{{Expression: "variables.repo == 'org/app'", Message: "only org/app may call"}},
		}}
		r.Spec.ResourceFilter = "claims.ref == 'refs/heads/main'"
	}), ready)
	if want := fmt.Sprintf("/hook/%x", sha256.Sum256([]byte("oidc"+ns))); r.Status.WebhookPath != want {
		t.Errorf("path %s, want %s", r.Status.WebhookPath, want)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"sub": "repo:org/app:ref:refs/heads/main", "aud": "notification-controller", "ref": "refs/heads/main"}
	with := func(changes map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range good {
			out[k] = v
		}
		for k, v := range changes {
			out[k] = v
		}
		return out
	}
	auth := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	p := r.Status.WebhookPath
	calls(t, ns, []call{
		{"no token", p, nil, nil, http.StatusBadRequest, false},
		{"not a JWT", p, nil, auth("not-a-jwt"), http.StatusBadRequest, false},
		{"signed by another key", p, nil, auth(oidcIssuer.token(t, other, good)), http.StatusBadRequest, false},
		{"another audience", p, nil, auth(oidcIssuer.token(t, nil, with(map[string]any{"aud": "someone-else"}))), http.StatusBadRequest, false},
		{"expired", p, nil, auth(oidcIssuer.token(t, nil, with(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))), http.StatusBadRequest, false},
		{"another issuer", p, nil, auth(oidcIssuer.token(t, nil, with(map[string]any{"iss": "https://elsewhere.example.com"}))), http.StatusBadRequest, false},
		{"another repository", p, nil, auth(oidcIssuer.token(t, nil, with(map[string]any{"sub": "repo:org/other:ref:refs/heads/main"}))), http.StatusBadRequest, false},
		{"another branch", p, nil, auth(oidcIssuer.token(t, nil, with(map[string]any{"ref": "refs/heads/feature"}))), http.StatusOK, false},
		{"valid", p, nil, auth(oidcIssuer.token(t, nil, good)), http.StatusOK, true},
	})
}

// gcr accepts a Pub/Sub push of an INSERT whose token Google (here, the test's issuer)
// signed for the Secret's audience and email.
func TestGCRReceiverVerifiesThePushToken(t *testing.T) {
	ns := "receiver-gcr"
	namespace(t, ns)
	gitRepository(t, ns, "app", nil)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "token"}, StringData: map[string]string{
		"token": token, "email": "push@project.iam.gserviceaccount.com", "audience": "https://hooks.example.com",
	}}
	if err := env.Client.Create(testenv.Context(t), s); err != nil {
		t.Fatal(err)
	}
	r := waitReceiver(t, receiver(t, ns, "gcr", notifyv1.GCRReceiver), ready)
	push := func(action string) []byte {
		data, _ := json.Marshal(map[string]string{"action": action, "digest": "gcr.io/p/app@sha256:00", "tag": "gcr.io/p/app:v1"})
		body, _ := json.Marshal(map[string]any{"message": map[string]any{"data": base64.StdEncoding.EncodeToString(data), "messageId": "1"}, "subscription": "projects/p/subscriptions/flux"})
		return body
	}
	claims := func(email string, verified bool) map[string]string {
		tok := oidcIssuer.token(t, nil, map[string]any{"aud": "https://hooks.example.com", "email": email, "email_verified": verified})
		return map[string]string{"Authorization": "Bearer " + tok}
	}
	p := r.Status.WebhookPath
	calls(t, ns, []call{
		{"no token", p, push("INSERT"), nil, http.StatusBadRequest, false},
		{"another account", p, push("INSERT"), claims("intruder@example.com", true), http.StatusBadRequest, false},
		{"unverified email", p, push("INSERT"), claims("push@project.iam.gserviceaccount.com", false), http.StatusBadRequest, false},
		{"a delete", p, push("DELETE"), claims("push@project.iam.gserviceaccount.com", true), http.StatusBadRequest, false},
		{"not a push", p, []byte(`{"message":{}}`), claims("push@project.iam.gserviceaccount.com", true), http.StatusBadRequest, false},
		{"an insert", p, push("INSERT"), claims("push@project.iam.gserviceaccount.com", true), http.StatusOK, true},
	})
}

// The registry and CDEvents Receivers check what their senders send.
func TestRegistryAndCDEventsReceivers(t *testing.T) {
	ns := "receiver-registries"
	namespace(t, ns)
	tokenSecret(t, ns, "token")
	gitRepository(t, ns, "app", nil)
	path := map[string]string{}
	for _, kind := range []string{notifyv1.HarborReceiver, notifyv1.NexusReceiver, notifyv1.DockerHubReceiver, notifyv1.QuayReceiver, notifyv1.ACRReceiver, notifyv1.CDEventsReceiver} {
		path[kind] = waitReceiver(t, receiver(t, ns, kind, kind, func(r *notifyv1.Receiver) {
			if kind == notifyv1.CDEventsReceiver {
				r.Spec.Events = []string{"dev.cdevents.artifact.published.0.1.1"}
			}
		}), ready).Status.WebhookPath
	}
	nexusBody := []byte(`{"action":"CREATED","repositoryName":"docker-hosted"}`)
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write(nexusBody)
	nexusSig := hex.EncodeToString(mac.Sum(nil))
	cdevent := func(typ string) []byte {
		return []byte(`{"context":{"specversion":"0.3.0","id":"1","source":"/ci","type":"` + typ + `","timestamp":"2026-12-02T10:00:00Z"},"subject":{"id":"pkg:oci/app@sha256:00","content":{}}}`)
	}
	published := "dev.cdevents.artifact.published.0.1.1"
	calls(t, ns, []call{
		{"harbor, wrong token", path["harbor"], []byte(`{"type":"PUSH_ARTIFACT"}`), map[string]string{"Authorization": "guess"}, http.StatusBadRequest, false},
		{"harbor", path["harbor"], []byte(`{"type":"PUSH_ARTIFACT"}`), map[string]string{"Authorization": token}, http.StatusOK, true},
		{"nexus, unsigned", path["nexus"], nexusBody, nil, http.StatusBadRequest, false},
		{"nexus, signed", path["nexus"], nexusBody, map[string]string{"X-Nexus-Webhook-Signature": nexusSig}, http.StatusOK, true},
		{"dockerhub, not a push", path["dockerhub"], []byte(`{"callback_url":"x"}`), nil, http.StatusBadRequest, false},
		{"dockerhub", path["dockerhub"], []byte(`{"push_data":{"tag":"v1"},"repository":{"repo_name":"org/app"}}`), nil, http.StatusOK, true},
		{"quay, not a push", path["quay"], []byte(`[]`), nil, http.StatusBadRequest, false},
		{"quay", path["quay"], []byte(`{"docker_url":"quay.io/org/app","updated_tags":["v1"]}`), nil, http.StatusOK, true},
		{"acr, not a push", path["acr"], []byte(`{"action":"push"}`), nil, http.StatusBadRequest, false},
		{"acr", path["acr"], []byte(`{"action":"push","target":{"repository":"app","tag":"v1"}}`), nil, http.StatusOK, true},
		{"cdevents, no Ce-Type", path["cdevents"], cdevent(published), nil, http.StatusBadRequest, false},
		{"cdevents, type mismatch", path["cdevents"], cdevent("dev.cdevents.build.finished.0.1.1"), map[string]string{"Ce-Type": published}, http.StatusBadRequest, false},
		{"cdevents, an event not wanted", path["cdevents"], cdevent("dev.cdevents.build.finished.0.1.1"), map[string]string{"Ce-Type": "dev.cdevents.build.finished.0.1.1"}, http.StatusBadRequest, false},
		{"cdevents, no subject", path["cdevents"], []byte(`{"context":{"id":"1","source":"/ci","type":"` + published + `","timestamp":"2026-12-02T10:00:00Z"}}`), map[string]string{"Ce-Type": published}, http.StatusBadRequest, false},
		{"cdevents", path["cdevents"], cdevent(published), map[string]string{"Ce-Type": published}, http.StatusOK, true},
	})
}
