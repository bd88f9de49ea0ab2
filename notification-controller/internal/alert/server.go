// Package alert takes the events the controllers post (--events-addr), matches them against
// Alerts, and delivers them to the Alerts' Providers: off the request path, in order per
// Provider, each Provider on its own so that a slow or dead one holds up no other.
package alert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/runtime/serve"
)

// MaxEventBytes caps an event's body, as Flux does.
const MaxEventBytes = 3 << 20

// Server is the event intake.
type Server struct {
	// Addr is the address to listen on (--events-addr).
	Addr string
	// Dispatcher matches and delivers what the server accepts.
	Dispatcher *Dispatcher
	// RateLimitInterval is how long an event is a duplicate of an equal one before it
	// (--rate-limit-interval); zero: no duplicates are refused.
	RateLimitInterval time.Duration
	Log               logr.Logger

	mu   sync.Mutex
	seen map[string]time.Time
}

// Start implements manager.Runnable.
func (s *Server) Start(ctx context.Context) error {
	return serve.Listen(ctx, s.Addr, serve.Webhook(s))
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: events are posted to the
// Service, which may send them to any replica, and each replica delivers what it takes.
func (s *Server) NeedLeaderElection() bool { return false }

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return serve.Serve(ctx, ln, serve.Webhook(s))
}

// ServeHTTP takes one event: 202 once it is queued for matching (whether or not an Alert
// wants it), 400 for a body that is not an event, 413 for one over MaxEventBytes, 429 for a
// duplicate within RateLimitInterval, 503 when the queue is full (nothing is dropped
// silently: the sender may retry).
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxEventBytes+1))
	if err != nil {
		s.answer(w, http.StatusBadRequest, "reading the body failed")
		return
	}
	if len(body) > MaxEventBytes {
		s.answer(w, http.StatusRequestEntityTooLarge, "event over 3 MiB")
		return
	}
	ev := &event.Event{}
	if err := json.Unmarshal(body, ev); err != nil {
		s.answer(w, http.StatusBadRequest, "not an event: "+err.Error())
		return
	}
	if err := valid(ev); err != nil {
		s.answer(w, http.StatusBadRequest, err.Error())
		return
	}
	cleanMetadata(ev)
	key := dedupKey(ev)
	if s.duplicate(key) {
		s.Dispatcher.metrics.received.WithLabelValues("duplicate").Inc()
		s.answer(w, http.StatusTooManyRequests, "duplicate event")
		return
	}
	if !s.Dispatcher.Enqueue(ev) {
		s.forget(key)
		s.Dispatcher.metrics.received.WithLabelValues("queue_full").Inc()
		s.answer(w, http.StatusServiceUnavailable, "the event queue is full")
		return
	}
	s.Dispatcher.metrics.received.WithLabelValues("accepted").Inc()
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) answer(w http.ResponseWriter, code int, msg string) {
	s.Log.V(1).Info("event refused", "code", code, "reason", msg)
	http.Error(w, msg, code)
}

// valid checks what every event must carry.
func valid(ev *event.Event) error {
	var missing []string
	if ev.InvolvedObject.Kind == "" {
		missing = append(missing, "involvedObject.kind")
	}
	if ev.InvolvedObject.Name == "" {
		missing = append(missing, "involvedObject.name")
	}
	if ev.Message == "" {
		missing = append(missing, "message")
	}
	if ev.Reason == "" {
		missing = append(missing, "reason")
	}
	if len(missing) > 0 {
		return fmt.Errorf("not an event: no %s", strings.Join(missing, ", "))
	}
	switch ev.Severity {
	case event.SeverityInfo, event.SeverityError, event.SeverityTrace:
		return nil
	}
	return fmt.Errorf("not an event: severity '%s' is not info, error or trace", ev.Severity)
}

// groupOf is the API group of the event's object ('source.toolkit.fluxcd.io').
func groupOf(ev *event.Event) string {
	if group, _, ok := strings.Cut(ev.InvolvedObject.APIVersion, "/"); ok {
		return group
	}
	return ""
}

// cleanMetadata keeps the metadata keys Flux keeps: those prefixed with the event group or
// the object's group, without the object group's checksum and digest.
func cleanMetadata(ev *event.Event) {
	group := groupOf(ev)
	for k := range ev.Metadata {
		keep := strings.HasPrefix(k, event.MetaPrefix) || (group != "" && strings.HasPrefix(k, group+"/"))
		if !keep || k == group+"/checksum" || k == group+"/"+event.MetaDigestKey {
			delete(ev.Metadata, k)
		}
	}
}

// dedupKey is what makes two events the same: the object, the message, and the revisions
// and token they carry (Flux's key).
func dedupKey(ev *event.Event) string {
	group := groupOf(ev)
	h := sha256.New()
	for _, v := range []string{ev.InvolvedObject.Name, ev.InvolvedObject.Namespace, ev.InvolvedObject.Kind, ev.Message} {
		h.Write([]byte(v + "\x00"))
	}
	for _, k := range []string{event.MetaOriginRevisionKey, event.MetaRevisionKey, event.MetaTokenKey} {
		if v, ok := ev.Metadata[group+"/"+k]; ok {
			h.Write([]byte(k + "=" + v + "\x00"))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// duplicate records key and reports whether it was seen within RateLimitInterval.
func (s *Server) duplicate(key string) bool {
	if s.RateLimitInterval <= 0 {
		return false
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]time.Time{}
	}
	if len(s.seen) > 10000 { // expire old keys now and then: the map stays bounded
		for k, at := range s.seen {
			if now.Sub(at) >= s.RateLimitInterval {
				delete(s.seen, k)
			}
		}
	}
	if at, ok := s.seen[key]; ok && now.Sub(at) < s.RateLimitInterval {
		return true
	}
	s.seen[key] = now
	return false
}

// forget removes key, for an event that was refused after all.
func (s *Server) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, key)
}
