package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// hmacSink is a generic-hmac endpoint on 127.0.0.1 that keeps the events whose signature
// checks out, and counts the others.
type hmacSink struct {
	*httptest.Server
	mu       sync.Mutex
	events   []event.Event
	unsigned int
}

func newHMACSink(t *testing.T, key string) *hmacSink {
	s := &hmacSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(body)
		ev := event.Event{}
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Header.Get("X-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) || json.Unmarshal(body, &ev) != nil {
			s.unsigned++
			return
		}
		s.events = append(s.events, ev)
	}))
	t.Cleanup(s.Close)
	return s
}

// waitEvent waits for an event of the kind whose message contains text, and returns it.
func (s *hmacSink) waitEvent(t *testing.T, kind, text string) event.Event {
	t.Helper()
	var found event.Event
	testenv.Eventually(t, time.Minute, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ev := range s.events {
			if ev.InvolvedObject.Kind == kind && strings.Contains(ev.Message, text) {
				found = ev
				return nil
			}
		}
		return fmt.Errorf("no %s event with %q among %d (and %d unsigned)", kind, text, len(s.events), s.unsigned)
	})
	return found
}

// slackSink is a Slack incoming webhook on 127.0.0.1 that keeps the payloads it receives.
type slackSink struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []slackMessage
}

type slackMessage struct {
	Channel     string `json:"channel"`
	Username    string `json:"username"`
	Attachments []struct {
		Color      string   `json:"color"`
		AuthorName string   `json:"author_name"`
		Text       string   `json:"text"`
		MrkdwnIn   []string `json:"mrkdwn_in"`
		Fields     []struct {
			Title string `json:"title"`
			Value string `json:"value"`
		} `json:"fields"`
	} `json:"attachments"`
}

func newSlackSink(t *testing.T) *slackSink {
	s := &slackSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m slackMessage
		if r.URL.Path != "/services/T0/B0/e2e" || json.NewDecoder(r.Body).Decode(&m) != nil || len(m.Attachments) != 1 {
			http.Error(w, "invalid_payload", http.StatusBadRequest) // as Slack answers
			return
		}
		s.mu.Lock()
		s.payloads = append(s.payloads, m)
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

// waitMessage waits for a message about the object whose text contains text.
func (s *slackSink) waitMessage(t *testing.T, author, text string) slackMessage {
	t.Helper()
	var found slackMessage
	testenv.Eventually(t, time.Minute, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, m := range s.payloads {
			if m.Attachments[0].AuthorName == author && strings.Contains(m.Attachments[0].Text, text) {
				found = m
				return nil
			}
		}
		return fmt.Errorf("no Slack message from %s with %q among %d", author, text, len(s.payloads))
	})
	return found
}

// The notification loop with the real binaries: a GitHub-signed push to a Receiver is applied
// at once (every interval is an hour), and the controllers' events reach a generic-hmac
// Provider and a Slack one through Alerts: the new revision, the change set, a drift
// correction naming who edited by hand, a failure; each checked payload by payload.
func TestNotificationLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := "notify-e2e"
	createNamespace(t, ns)
	cm := func(value string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: " + ns + "\ndata:\n  value: " + value + "\n"
	}
	files := map[string]string{"app/configmap.yaml": cm("hello")}
	repo := newMonorepo(t, gitServer(t), files)

	events, hooks := freeAddr(t), freeAddr(t)
	startBinary(t, t, "notification-controller", "--events-addr="+events, "--receiverAddr="+hooks)
	storage := freeAddr(t)
	startBinary(t, t, "source-controller", "--storage-path="+t.TempDir(), "--storage-addr="+storage, "--storage-adv-addr="+storage, "--events-addr=http://"+events+"/")
	startBinary(t, t, "kustomize-controller", "--artifact-cache-dir="+t.TempDir(), "--events-addr=http://"+events+"/")

	const hmacKey, hookToken = "e2e-hmac-key", "e2e-hook-token"
	sink := newHMACSink(t, hmacKey)
	objects := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sink"}, StringData: map[string]string{"address": sink.URL, "token": hmacKey}},
		&notifyv1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sink"}, Spec: notifyv1beta3.ProviderSpec{Type: notifyv1beta3.GenericHMACProvider, SecretRef: &meta.LocalObjectReference{Name: "sink"}}},
		&notifyv1beta3.Alert{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "all"}, Spec: notifyv1beta3.AlertSpec{
			ProviderRef:  meta.LocalObjectReference{Name: "sink"},
			EventSources: []notifyv1beta3.CrossNamespaceObjectReference{{Kind: "GitRepository", Name: "*"}, {Kind: "Kustomization", Name: "*"}},
		}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}, StringData: map[string]string{"token": hookToken}},
		&notifyv1.Receiver{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "github"}, Spec: notifyv1.ReceiverSpec{
			Type: notifyv1.GitHubReceiver, Events: []string{"push"}, SecretRef: &meta.LocalObjectReference{Name: "hook"},
			Resources: []notifyv1.CrossNamespaceObjectReference{{Kind: sourcev1.GitRepositoryKind, Name: "app"}},
		}},
		&sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Spec: sourcev1.GitRepositorySpec{
			URL: repo.url, Interval: meta.Duration{Duration: time.Hour}, Reference: &sourcev1.GitRepositoryRef{Branch: "main"},
		}},
		&kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Spec: kustomizev1.KustomizationSpec{
			Interval: meta.Duration{Duration: time.Hour}, Path: "./app", Prune: true,
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "app"},
		}},
	}
	slack := newSlackSink(t)
	objects = append(objects,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slack"}, StringData: map[string]string{"address": slack.URL + "/services/T0/B0/e2e"}},
		&notifyv1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slack"}, Spec: notifyv1beta3.ProviderSpec{
			Type: "slack", Channel: "deploys", Username: "driftless", SecretRef: &meta.LocalObjectReference{Name: "slack"},
		}},
		&notifyv1beta3.Alert{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slack"}, Spec: notifyv1beta3.AlertSpec{
			ProviderRef:   meta.LocalObjectReference{Name: "slack"},
			EventSources:  []notifyv1beta3.CrossNamespaceObjectReference{{Kind: "GitRepository", Name: "*"}, {Kind: "Kustomization", Name: "*"}},
			EventMetadata: map[string]string{"cluster": "e2e"},
		}},
	)
	for _, o := range objects {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	revision := "main@sha1:" + repo.git("rev-parse", "HEAD")
	waitReadyAt(t, client.ObjectKey{Namespace: ns, Name: "app"}, revision, 2*time.Minute)
	sink.waitEvent(t, "Kustomization", "ConfigMap/"+ns+"/greeting created")
	stored := sink.waitEvent(t, "GitRepository", "stored artifact")
	if stored.Metadata["revision"] != revision {
		t.Errorf("the GitRepository event's revision: %v", stored.Metadata)
	}
	// The same new revision, as Slack shows it.
	msg := slack.waitMessage(t, "gitrepository/app."+ns, "stored artifact")
	att := msg.Attachments[0]
	fields := map[string]string{}
	for _, f := range att.Fields {
		fields[f.Title] = f.Value
	}
	if msg.Channel != "deploys" || msg.Username != "driftless" || att.Color != "good" || fields["revision"] != revision || fields["cluster"] != "e2e" {
		t.Errorf("the Slack message of the new revision: %+v", msg)
	}

	// A push, announced by a GitHub-signed webhook: applied without waiting for the hour.
	receiver := &notifyv1.Receiver{}
	testenv.Eventually(t, time.Minute, func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "github"}, receiver); err != nil {
			return err
		}
		if receiver.Status.WebhookPath == "" {
			return fmt.Errorf("no webhook path yet: %+v", receiver.Status.Conditions)
		}
		return nil
	})
	files["app/configmap.yaml"] = cm("pushed")
	revision = repo.commit("a push", files)
	body := []byte(`{"ref":"refs/heads/main","after":"` + strings.TrimPrefix(revision, "main@sha1:") + `"}`)
	mac := hmac.New(sha256.New, []byte(hookToken))
	mac.Write(body)
	post := func(signature string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+hooks+receiver.Status.WebhookPath, bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("sha256=" + strings.Repeat("0", 64)); code != http.StatusBadRequest {
		t.Errorf("a forged push: %d, want 400", code)
	}
	pushed := time.Now()
	if code := post("sha256=" + hex.EncodeToString(mac.Sum(nil))); code != http.StatusOK {
		t.Fatalf("the signed push: %d", code)
	}
	testenv.Eventually(t, time.Minute, func() error {
		got := &corev1.ConfigMap{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "greeting"}, got); err != nil {
			return err
		}
		if got.Data["value"] != "pushed" {
			return fmt.Errorf("value %q", got.Data["value"])
		}
		return nil
	})
	t.Logf("push webhook → applied in %s", time.Since(pushed).Round(time.Millisecond))
	sink.waitEvent(t, "Kustomization", "ConfigMap/"+ns+"/greeting configured")
	slack.waitMessage(t, "kustomization/app."+ns, "ConfigMap/"+ns+"/greeting configured")

	// An edit by hand: corrected, and the Alerts say who made it.
	edited := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "greeting"}, edited); err != nil {
		t.Fatal(err)
	}
	edited.Data["value"] = "edited by hand"
	if err := env.Client.Update(ctx, edited, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	drift := "ConfigMap/" + ns + "/greeting configured (drift: changed by kubectl-edit)"
	sink.waitEvent(t, "Kustomization", drift)
	slack.waitMessage(t, "kustomization/app."+ns, drift)

	// A broken commit: the failure reaches the Provider as an error.
	files["app/configmap.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: [broken\n"
	repo.commit("broken", files)
	requestSourceReconcile(t, &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}})
	if failed := sink.waitEvent(t, "Kustomization", "kustomize build failed"); failed.Severity != event.SeverityError {
		t.Errorf("the failure's severity: %s", failed.Severity)
	}
	if failed := slack.waitMessage(t, "kustomization/app."+ns, "kustomize build failed"); failed.Attachments[0].Color != "danger" {
		t.Errorf("the Slack message of the failure: %+v", failed)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.unsigned > 0 {
		t.Errorf("%d deliveries without a valid signature", sink.unsigned)
	}
}
