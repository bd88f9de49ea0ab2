package alert

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// warningOn waits for a NotificationDispatchFailed event on the Alert and returns its message.
func warningOn(t *testing.T, ns, alertName string) string {
	t.Helper()
	return warningWith(t, ns, alertName, DispatchFailedReason)
}

// warningWith waits for an event with the reason on the Alert and returns its message.
func warningWith(t *testing.T, ns, alertName, reason string) string {
	t.Helper()
	var msg string
	testenv.Eventually(t, 15*time.Second, func() error {
		list := &corev1.EventList{}
		if err := env.Client.List(testenv.Context(t), list, client.InNamespace(ns)); err != nil {
			return err
		}
		for i := range list.Items {
			if e := &list.Items[i]; e.InvolvedObject.Name == alertName && e.Reason == reason {
				msg = e.Message
				return nil
			}
		}
		return fmt.Errorf("no %s event on the Alert %s", reason, alertName)
	})
	return msg
}

func secret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data})
}

// A Slack Provider reaches a server whose certificate only certSecretRef's CA trusts; without
// it the delivery fails with a Warning, and the Slack payload arrives as Slack formats it.
func TestProviderTrustsTheCertSecretRefsCA(t *testing.T) {
	ns := "alerts-tls"
	namespace(t, ns)
	plain := newSink(t)
	tlsSink := httptest.NewUnstartedServer(plain.Config.Handler)
	tlsSink.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	tlsSink.StartTLS()
	t.Cleanup(tlsSink.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSink.Certificate().Raw})
	secret(t, ns, "ca", map[string]string{"ca.crt": string(ca)})
	secret(t, ns, "hook", map[string]string{"address": tlsSink.URL + "/services/T0/B0/secret-path"})
	create(t, &notifyv1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "trusted"}, Spec: notifyv1beta3.ProviderSpec{
		Type: "slack", Channel: "deploys", SecretRef: &meta.LocalObjectReference{Name: "hook"}, CertSecretRef: &meta.LocalObjectReference{Name: "ca"},
	}})
	create(t, &notifyv1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "untrusted"}, Spec: notifyv1beta3.ProviderSpec{
		Type: "slack", Channel: "deploys", SecretRef: &meta.LocalObjectReference{Name: "hook"},
	}})
	alert(t, ns, "trusted", "trusted")
	alert(t, ns, "untrusted", "untrusted")
	if code := post(t, gitEvent(ns, "app", event.SeverityError, "fetch failed")); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	got := plain.waitFor(t, 1)[0]
	var body struct {
		Channel     string `json:"channel"`
		Attachments []struct {
			Color, AuthorName, Text string
		} `json:"attachments"`
	}
	if err := json.Unmarshal(got.body, &body); err != nil || body.Channel != "deploys" || len(body.Attachments) != 1 {
		t.Fatalf("payload: %v %s", err, got.body)
	}
	msg := warningOn(t, ns, "untrusted")
	if !strings.Contains(msg, "certificate") {
		t.Errorf("warning: %s", msg)
	}
	for _, leak := range []string{"secret-path", strings.TrimPrefix(tlsSink.URL, "https://")} {
		if strings.Contains(msg, leak) {
			t.Errorf("the warning shows %q: %s", leak, msg)
		}
	}
	if n := len(plain.all()); n != 1 {
		t.Errorf("the sink received %d, want 1", n)
	}
}

// proxySecretRef sends deliveries through the proxy, with its credentials.
func TestProviderPostsThroughTheProxySecretRef(t *testing.T) {
	ns := "alerts-proxy"
	namespace(t, ns)
	target := newSink(t)
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("proxy-user:proxy-pass")) {
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		out, _ := http.NewRequest(r.Method, r.URL.String(), r.Body)
		out.Header = r.Header.Clone()
		out.Header.Del("Proxy-Authorization")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		proxied.Add(1)
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	secret(t, ns, "proxy", map[string]string{"address": proxy.URL, "username": "proxy-user", "password": "proxy-pass"})
	create(t, &notifyv1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "teams"}, Spec: notifyv1beta3.ProviderSpec{
		Type: "msteams", Address: target.URL + "/workflows/1", ProxySecretRef: &meta.LocalObjectReference{Name: "proxy"},
	}})
	alert(t, ns, "teams", "teams")
	if code := post(t, gitEvent(ns, "app", event.SeverityInfo, "stored artifact")); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	got := target.waitFor(t, 1)[0]
	if proxied.Load() != 1 {
		t.Errorf("%d requests went through the proxy, want 1", proxied.Load())
	}
	if !strings.Contains(string(got.body), "application/vnd.microsoft.card.adaptive") {
		t.Errorf("payload: %s", got.body)
	}
}

// A GitHub Provider sets the status named by commitStatusExpr on the event's commit; the
// events that only update a commit status reach it and no chat.
func TestCommitStatusProvidersGetTheCommitAndChatsDoNot(t *testing.T) {
	ns := "alerts-status"
	namespace(t, ns)
	github, chat := newSink(t), newSink(t)
	github.answer = func(w http.ResponseWriter) { _, _ = io.WriteString(w, "[]") }
	secret(t, ns, "github", map[string]string{"token": "ghp_secret"})
	create(t, &notifyv1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "github"}, Spec: notifyv1beta3.ProviderSpec{
		Type: "github", Address: github.URL + "/org/app", SecretRef: &meta.LocalObjectReference{Name: "github"},
		CommitStatusExpr: "'flux/' + event.involvedObject.name + '/' + provider.metadata.name",
	}})
	provider(t, ns, "chat", "rocket", chat.URL+"/hooks/1", nil)
	kustomizations := func(a *notifyv1beta3.Alert) {
		a.Spec.EventSources = []notifyv1beta3.CrossNamespaceObjectReference{{Kind: "Kustomization", Name: "*"}}
	}
	alert(t, ns, "github", "github", kustomizations)
	alert(t, ns, "chat", "chat", kustomizations)

	const sha = "0123456789abcdef0123456789abcdef01234567"
	ks := func(message string, metadata map[string]string) event.Event {
		return event.Event{
			InvolvedObject: corev1.ObjectReference{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization", Namespace: ns, Name: "apps"},
			Severity:       event.SeverityInfo, Timestamp: metav1.Now(), Message: message, Reason: "ReconciliationSucceeded",
			ReportingController: "kustomize-controller", Metadata: metadata,
		}
	}
	if code := post(t, ks("Applied revision: main@sha1:"+sha, map[string]string{"kustomize.toolkit.fluxcd.io/revision": "main@sha1:" + sha})); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	if code := post(t, ks("Health check passed", map[string]string{
		"kustomize.toolkit.fluxcd.io/revision":      "main@sha1:" + sha,
		"kustomize.toolkit.fluxcd.io/commit_status": "update",
	})); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	if code := post(t, ks("no revision here", nil)); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	// Two events with a revision: a listing and a status each.
	got := github.waitFor(t, 4)
	var statuses []map[string]string
	for _, r := range got {
		if strings.Contains(string(r.body), `"state"`) {
			var m map[string]string
			_ = json.Unmarshal(r.body, &m)
			statuses = append(statuses, m)
		}
		if r.header.Get("Authorization") != "Bearer ghp_secret" {
			t.Errorf("GitHub request without the token: %v", r.header)
		}
	}
	if len(statuses) != 2 || statuses[0]["context"] != "flux/apps/github" || statuses[0]["state"] != "success" {
		t.Errorf("statuses: %v", statuses)
	}
	chats := chat.waitFor(t, 2)
	time.Sleep(200 * time.Millisecond)
	if chats = chat.all(); len(chats) != 2 {
		t.Errorf("the chat got %d events, want 2 (not the commit status update)", len(chats))
	}
	for _, c := range chats {
		if strings.Contains(string(c.body), "Health check passed") {
			t.Errorf("the chat got the commit status update: %s", c.body)
		}
	}
	if n := len(github.all()); n != 4 {
		t.Errorf("GitHub got %d requests, want 4 (nothing for the event without a revision)", n)
	}
}

// A Provider missing what its type needs fails with a Warning that says what is missing.
func TestProviderMissingItsTokenSaysSo(t *testing.T) {
	ns := "alerts-incomplete"
	namespace(t, ns)
	sink := newSink(t)
	provider(t, ns, "opsgenie", "opsgenie", sink.URL, nil)
	alert(t, ns, "opsgenie", "opsgenie")
	if code := post(t, gitEvent(ns, "app", event.SeverityError, "fetch failed")); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	if msg := warningOn(t, ns, "opsgenie"); !strings.Contains(msg, "'token'") {
		t.Errorf("warning: %s", msg)
	}
	if n := len(sink.all()); n != 0 {
		t.Errorf("the sink received %d", n)
	}
}
