package alert

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

// Whatever is posted, the intake answers with one of its codes and never panics; what it
// accepts is an event.
func FuzzServeEvent(f *testing.F) {
	ok, _ := json.Marshal(gitEvent("fuzz", "app", event.SeverityInfo, "stored artifact"))
	f.Add(ok)
	f.Add([]byte(`{"involvedObject":{"kind":"GitRepository","name":"a","apiVersion":"x/y"},"severity":"error","message":"m","reason":"R","metadata":{"x/y/checksum":"1"}}`))
	f.Add([]byte(`{"metadata":null}`))
	f.Add([]byte(`null`))
	srv := &Server{Dispatcher: &Dispatcher{QueueSize: 1 << 20}, Log: logr.Discard()}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
		switch w.Code {
		case http.StatusAccepted:
			ev := &event.Event{}
			if json.Unmarshal(body, ev) != nil || valid(ev) != nil {
				t.Fatalf("accepted what is not an event: %q", body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		default:
			t.Fatalf("answer %d to %q", w.Code, body)
		}
	})
}
