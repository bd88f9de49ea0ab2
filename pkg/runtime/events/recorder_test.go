package events_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	eventv1 "github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

var env *testenv.Environment

func TestMain(m *testing.M) {
	testenv.Main(m, &env, testenv.WithScheme(sourcev1.AddToScheme))
}

// sink is a notification-controller stand-in: a real HTTP server on 127.0.0.1 that records
// the events it receives and fails the first failFirst requests with 503.
type sink struct {
	srv       *httptest.Server
	events    chan eventv1.Event
	headers   chan http.Header
	failFirst int32
	calls     atomic.Int32
}

func newSink(t *testing.T, failFirst int32) *sink {
	s := &sink{events: make(chan eventv1.Event, 10), headers: make(chan http.Header, 10), failFirst: failFirst}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.calls.Add(1) <= s.failFirst {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var ev eventv1.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("sink: bad JSON %q: %v", body, err)
		}
		s.headers <- r.Header
		s.events <- ev
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) next(t *testing.T) eventv1.Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event reached the sink")
		return eventv1.Event{}
	}
}

func startRecorder(t *testing.T, address string) *events.Recorder {
	t.Helper()
	k8s := env.EventRecorder(t, "source-controller")

	poster := events.NewPoster(address, events.PosterOptions{Backoff: 10 * time.Millisecond}, testr.New(t))
	rec := events.NewRecorder(k8s, env.Scheme, "source-controller", poster, testr.New(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rec.Start(ctx) }()
	// The poster logs through t: it must have stopped before the test ends.
	t.Cleanup(func() { cancel(); <-done })
	return rec
}

func gitRepository(t *testing.T, name string) *sourcev1.GitRepository {
	t.Helper()
	obj := &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default",
			Annotations: map[string]string{"event.toolkit.fluxcd.io/team": "platform", "unrelated": "x"},
		},
		Spec: sourcev1.GitRepositorySpec{URL: "https://example.com/r.git", Interval: meta.Duration{Duration: time.Minute}},
	}
	if err := env.Client.Create(testenv.Context(t), obj); err != nil {
		t.Fatal(err)
	}
	obj.SetGroupVersionKind(sourcev1.GroupVersion.WithKind(sourcev1.GitRepositoryKind))
	return obj
}

const leakyMessage = "stored artifact from https://alice:hunter2@git.example.com/r.git?private_token=tok3n"

func TestEventReachesKubernetesAndNotificationController(t *testing.T) {
	s := newSink(t, 2) // two 503s, then accepted: the poster must retry
	rec := startRecorder(t, s.srv.URL)
	obj := gitRepository(t, "events-posted")

	rec.AnnotatedEventf(obj, map[string]string{"source.toolkit.fluxcd.io/revision": "main@sha1:0123abcd"},
		corev1.EventTypeNormal, "NewArtifact", "%s", leakyMessage)

	ev := s.next(t)
	if strings.Contains(ev.Message, "hunter2") || strings.Contains(ev.Message, "tok3n") {
		t.Fatalf("credentials reached notification-controller: %q", ev.Message)
	}
	if ev.Message != "stored artifact from https://git.example.com/r.git" {
		t.Errorf("message = %q", ev.Message)
	}
	if ev.Severity != eventv1.SeverityInfo || ev.Reason != "NewArtifact" || ev.ReportingController != "source-controller" {
		t.Errorf("unexpected event %+v", ev)
	}
	if ev.InvolvedObject.Kind != "GitRepository" || ev.InvolvedObject.Name != "events-posted" ||
		ev.InvolvedObject.APIVersion != "source.toolkit.fluxcd.io/v1" || ev.InvolvedObject.UID == "" {
		t.Errorf("involvedObject = %+v", ev.InvolvedObject)
	}
	if ev.Metadata["source.toolkit.fluxcd.io/revision"] != "main@sha1:0123abcd" || ev.Metadata["event.toolkit.fluxcd.io/team"] != "platform" {
		t.Errorf("metadata = %v", ev.Metadata)
	}
	if _, ok := ev.Metadata["unrelated"]; ok {
		t.Errorf("unprefixed annotation copied into metadata: %v", ev.Metadata)
	}
	if got := s.calls.Load(); got != 3 {
		t.Errorf("expected 2 retries after 503, got %d calls", got)
	}

	// The Kubernetes Event exists, and is redacted too.
	ctx := testenv.Context(t)
	clientset := kubernetes.NewForConfigOrDie(env.Config)
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := clientset.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=events-posted"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			k := list.Items[0]
			if strings.Contains(k.Message, "hunter2") || k.Reason != "NewArtifact" || k.Type != corev1.EventTypeNormal || k.Source.Component != "source-controller" {
				t.Fatalf("kubernetes event = %+v", k)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no Kubernetes Event was recorded")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTraceEventsStayInKubernetesAndWarningsAreErrors(t *testing.T) {
	s := newSink(t, 0)
	rec := startRecorder(t, s.srv.URL)
	obj := gitRepository(t, "events-trace")

	rec.Event(obj, events.EventTypeTrace, "Progressing", "fetching")
	rec.Event(obj, corev1.EventTypeWarning, "GitOperationFailed", "clone failed")

	ev := s.next(t)
	if ev.Reason != "GitOperationFailed" || ev.Severity != eventv1.SeverityError {
		t.Fatalf("first posted event = %s/%s, want the warning as error (trace must not be posted)", ev.Reason, ev.Severity)
	}
	if h := <-s.headers; h.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", h.Get("Content-Type"))
	}
}

func TestPosterDoesNotRetryClientErrorsOrDuplicates(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusTooManyRequests} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(code)
		}))
		p := events.NewPoster(srv.URL, events.PosterOptions{Backoff: time.Millisecond}, testr.New(t))
		err := p.Post(context.Background(), &eventv1.Event{Message: "m"})
		srv.Close()
		if calls.Load() != 1 {
			t.Errorf("%d: %d calls, want 1", code, calls.Load())
		}
		if (code == http.StatusTooManyRequests) != (err == nil) {
			t.Errorf("%d: err = %v", code, err)
		}
	}
}

func TestPosterDropsWhenQueueIsFull(t *testing.T) {
	p := events.NewPoster("http://127.0.0.1:1/", events.PosterOptions{QueueSize: 2}, testr.New(t))
	for range 5 {
		p.Enqueue(&eventv1.Event{})
	}
	if p.Dropped() != 3 {
		t.Fatalf("dropped = %d, want 3", p.Dropped())
	}
}
