package alert

import (
	"bytes"
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

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// sink is a webhook endpoint on 127.0.0.1 that records what it receives.
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	received []received
	// answer, when set, makes the sink's answer (default 200).
	answer func(w http.ResponseWriter)
}

type received struct {
	header http.Header
	body   []byte
	event  event.Event
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := received{header: r.Header.Clone(), body: body}
		_ = json.Unmarshal(body, &rec.event)
		s.mu.Lock()
		s.received = append(s.received, rec)
		answer := s.answer
		s.mu.Unlock()
		if answer != nil {
			answer(w)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.received...)
}

// waitFor waits until the sink has received n requests, and returns them.
func (s *sink) waitFor(t *testing.T, n int) []received {
	t.Helper()
	var got []received
	testenv.Eventually(t, 10*time.Second, func() error {
		if got = s.all(); len(got) < n {
			return fmt.Errorf("%d of %d received", len(got), n)
		}
		return nil
	})
	return got
}

func namespace(t *testing.T, ns string) {
	t.Helper()
	err := env.Client.Create(testenv.Context(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
}

// provider creates a Provider of kind posting to address, with a Secret of data when given.
func provider(t *testing.T, ns, name, kind, address string, data map[string]string) {
	t.Helper()
	p := &notifyv1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: notifyv1beta3.ProviderSpec{Type: kind, Address: address}}
	if data != nil {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
		create(t, s)
		p.Spec.SecretRef = &meta.LocalObjectReference{Name: name}
	}
	create(t, p)
}

// alert creates an Alert for the GitRepositories named sources, to the Provider.
func alert(t *testing.T, ns, name, providerName string, mutate ...func(*notifyv1beta3.Alert)) *notifyv1beta3.Alert {
	t.Helper()
	a := &notifyv1beta3.Alert{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: notifyv1beta3.AlertSpec{
			ProviderRef:  meta.LocalObjectReference{Name: providerName},
			EventSources: []notifyv1beta3.CrossNamespaceObjectReference{{Kind: "GitRepository", Name: "*"}},
		},
	}
	for _, m := range mutate {
		m(a)
	}
	create(t, a)
	// The cache must show the Alert and its Provider before events are posted.
	testenv.Eventually(t, 10*time.Second, func() error {
		return env.Client.Get(testenv.Context(t), client.ObjectKeyFromObject(a), &notifyv1beta3.Alert{})
	})
	return a
}

// gitEvent is an event of the GitRepository ns/name.
func gitEvent(ns, name, severity, message string) event.Event {
	return event.Event{
		InvolvedObject: corev1.ObjectReference{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "GitRepository", Namespace: ns, Name: name},
		Severity:       severity, Timestamp: metav1.Now(), Message: message, Reason: "NewArtifact",
		ReportingController: "source-controller",
		Metadata: map[string]string{
			"source.toolkit.fluxcd.io/revision": "main@sha1:0123abcd",
			"source.toolkit.fluxcd.io/checksum": "dropped",
			"example.com/other":                 "dropped",
		},
	}
}

// postEvent posts an event (any JSON) and returns the status code.
func postEvent(t *testing.T, body []byte) int {
	t.Helper()
	resp, err := http.Post(eventsURL+"/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func post(t *testing.T, ev event.Event) int {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return postEvent(t, body)
}

// The intake answers as Flux: 202 for an event, 400 for what is not one, 413 over 3 MiB, 429
// for the same event again.
func TestEventIntakeAnswersAsFlux(t *testing.T) {
	ev := gitEvent("intake", "app", event.SeverityInfo, "stored artifact for revision 'main@sha1:0123abcd'")
	if code := post(t, ev); code != http.StatusAccepted {
		t.Errorf("an event: %d", code)
	}
	if code := post(t, ev); code != http.StatusTooManyRequests {
		t.Errorf("the same event again: %d", code)
	}
	ev.Metadata["source.toolkit.fluxcd.io/revision"] = "main@sha1:4567"
	if code := post(t, ev); code != http.StatusAccepted {
		t.Errorf("the same message for another revision: %d", code)
	}
	for name, body := range map[string][]byte{
		"not JSON":       []byte("{not json"),
		"no object":      []byte(`{"severity":"info","message":"m","reason":"R"}`),
		"a bad severity": []byte(`{"involvedObject":{"kind":"GitRepository","name":"a"},"severity":"loud","message":"m","reason":"R"}`),
		"no message":     []byte(`{"involvedObject":{"kind":"GitRepository","name":"a"},"severity":"info","reason":"R"}`),
		"an array":       []byte(`[1,2]`),
		"a wrong type":   []byte(`{"involvedObject":{"kind":1}}`),
	} {
		if code := postEvent(t, body); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}
	if code := postEvent(t, bytes.Repeat([]byte(" "), MaxEventBytes+1)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("over 3 MiB: %d", code)
	}
	resp, err := http.Get(eventsURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

// A full queue is answered 503, never dropped silently.
func TestEventIntakeRefusesWhenItsQueueIsFull(t *testing.T) {
	srv := &Server{Dispatcher: &Dispatcher{QueueSize: 1}, Log: logr.Discard()}
	for i, want := range []int{http.StatusAccepted, http.StatusServiceUnavailable} {
		body, _ := json.Marshal(gitEvent("full", "app", event.SeverityInfo, fmt.Sprintf("event %d", i)))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
		if w.Code != want {
			t.Errorf("event %d: %d, want %d", i, w.Code, want)
		}
	}
}

// generic gets the event JSON with Gotk-Component and the Secret's headers; generic-hmac the
// same, signed with the token; the metadata is Flux's: the object group's keys without their
// prefix, the Alert's eventMetadata and summary, nothing else.
func TestAlertsDeliverToGenericProviders(t *testing.T) {
	ns := "alerts-generic"
	namespace(t, ns)
	plain, signed := newSink(t), newSink(t)
	provider(t, ns, "plain", notifyv1beta3.GenericProvider, plain.URL, map[string]string{"headers": "X-Team: web\n"})
	provider(t, ns, "signed", notifyv1beta3.GenericHMACProvider, "", map[string]string{"address": signed.URL, "token": "hmac-key"})
	alert(t, ns, "plain", "plain", func(a *notifyv1beta3.Alert) {
		a.Spec.EventMetadata = map[string]string{"env": "production", "revision": "not-this"}
		a.Spec.Summary = "web cluster"
	})
	alert(t, ns, "signed", "signed")

	ev := gitEvent(ns, "app", event.SeverityInfo, "stored artifact for revision 'main@sha1:0123abcd'")
	if code := post(t, ev); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	got := plain.waitFor(t, 1)[0]
	if got.header.Get("Gotk-Component") != "source-controller" || got.header.Get("X-Team") != "web" || got.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", got.header)
	}
	want := map[string]string{"revision": "main@sha1:0123abcd", "env": "production", "summary": "web cluster"}
	if fmt.Sprint(got.event.Metadata) != fmt.Sprint(want) || got.event.Message != ev.Message || got.event.InvolvedObject.Name != "app" {
		t.Errorf("payload: %s", got.body)
	}
	if msg := warningWith(t, ns, "plain", MetadataAppendFailedReason); !strings.Contains(msg, "the key(s) revision") {
		t.Errorf("the conflict's warning: %s", msg)
	}
	s := signed.waitFor(t, 1)[0]
	mac := hmac.New(sha256.New, []byte("hmac-key"))
	mac.Write(s.body)
	if s.header.Get("X-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("X-Signature %q does not sign the body", s.header.Get("X-Signature"))
	}
}

// An Alert takes the events of its sources only: kind, namespace, name or '*', labels on the
// live object, severity, inclusion and exclusion lists; a suspended one takes none.
func TestAlertsSelectTheirEvents(t *testing.T) {
	ns := "alerts-select"
	namespace(t, ns)
	namespace(t, "alerts-elsewhere")
	repo := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
		"metadata": map[string]any{"namespace": ns, "name": "labelled", "labels": map[string]any{"team": "web"}},
		"spec":     map[string]any{"url": "https://git.example.com/x.git", "interval": "1h"},
	}}
	create(t, repo)
	s := newSink(t)
	provider(t, ns, "sink", notifyv1beta3.GenericProvider, s.URL, nil)
	alert(t, ns, "errors", "sink", func(a *notifyv1beta3.Alert) {
		a.Spec.EventSeverity = event.SeverityError
		a.Spec.EventSources = []notifyv1beta3.CrossNamespaceObjectReference{{Kind: "GitRepository", Name: "app"}}
	})
	alert(t, ns, "labelled", "sink", func(a *notifyv1beta3.Alert) {
		a.Spec.EventSources = []notifyv1beta3.CrossNamespaceObjectReference{{Kind: "GitRepository", Name: "*", MatchLabels: map[string]string{"team": "web"}}}
		a.Spec.InclusionList = []string{"^stored"}
		a.Spec.ExclusionList = []string{"skip me"}
	})
	alert(t, ns, "suspended", "sink", func(a *notifyv1beta3.Alert) { a.Spec.Suspend = true })

	for _, ev := range []event.Event{
		gitEvent(ns, "app", event.SeverityInfo, "info for the error alert"),              // severity
		gitEvent(ns, "other", event.SeverityError, "an error of another object"),         // name
		gitEvent("alerts-elsewhere", "app", event.SeverityError, "another namespace"),    // namespace
		gitEvent(ns, "labelled", event.SeverityInfo, "not included"),                     // inclusion
		gitEvent(ns, "labelled", event.SeverityInfo, "stored, but skip me"),              // exclusion
		gitEvent(ns, "unlabelled", event.SeverityInfo, "stored, for an unlabelled repo"), // labels
		gitEvent(ns, "app", event.SeverityError, "the error"),                            // taken by 'errors'
		gitEvent(ns, "labelled", event.SeverityInfo, "stored artifact"),                  // taken by 'labelled'
		// Events are matched in order, and one Provider's deliveries made in order: once
		// this one arrives, every event before it has been matched.
		gitEvent(ns, "labelled", event.SeverityInfo, "stored: the last one"),
	} {
		if code := post(t, ev); code != http.StatusAccepted {
			t.Fatalf("post %q: %d", ev.Message, code)
		}
	}
	s.waitFor(t, 3)
	var messages []string
	for _, r := range s.all() {
		messages = append(messages, r.event.Message)
	}
	if want := []string{"the error", "stored artifact", "stored: the last one"}; fmt.Sprint(messages) != fmt.Sprint(want) {
		t.Errorf("delivered: %q, want %q", messages, want)
	}
}

// A Provider that hangs holds up no other, and one that fails ends in a Warning event on the
// Alert that names the Provider, not its address or token.
func TestAProviderThatFailsHoldsUpNoOther(t *testing.T) {
	ns := "alerts-failing"
	namespace(t, ns)
	release := make(chan struct{})
	hanging, failing, healthy := newSink(t), newSink(t), newSink(t)
	hanging.answer = func(http.ResponseWriter) { <-release }
	t.Cleanup(func() { close(release) })
	failing.answer = func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) }
	provider(t, ns, "hanging", notifyv1beta3.GenericProvider, hanging.URL, nil)
	provider(t, ns, "failing", notifyv1beta3.GenericHMACProvider, failing.URL+"/hook?key=url-secret", map[string]string{"token": "the-hmac-token"})
	provider(t, ns, "healthy", notifyv1beta3.GenericProvider, healthy.URL, nil)
	for _, p := range []string{"hanging", "failing", "healthy"} {
		alert(t, ns, p, p)
	}
	for i := range 5 {
		if code := post(t, gitEvent(ns, "app", event.SeverityInfo, fmt.Sprintf("revision %d", i))); code != http.StatusAccepted {
			t.Fatalf("post: %d", code)
		}
	}
	// The healthy Provider gets all five while the hanging one holds its first.
	healthy.waitFor(t, 5)
	if n := len(hanging.all()); n != 1 {
		t.Errorf("the hanging Provider received %d", n)
	}
	// Each delivery to the failing one is tried four times, then reported.
	failing.waitFor(t, 4)
	warning := warningOn(t, ns, "failing")
	if !strings.Contains(warning, "Provider 'failing'") || !strings.Contains(warning, "500") {
		t.Errorf("warning: %s", warning)
	}
	for _, secret := range []string{failing.URL, strings.TrimPrefix(failing.URL, "http://"), "url-secret", "the-hmac-token"} {
		if strings.Contains(warning, secret) {
			t.Errorf("the warning shows %q: %s", secret, warning)
		}
	}
}
