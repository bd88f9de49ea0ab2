package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	eventv1 "github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/runtime/redact"
)

// Poster delivers events to notification-controller from a bounded queue, so that a slow or
// absent notification-controller never blocks a reconcile. When the queue is full, new events
// are dropped and counted.
type Poster struct {
	address string
	client  *http.Client
	queue   chan *eventv1.Event
	log     logr.Logger
	retries int
	backoff time.Duration
	dropped atomic.Int64
}

// PosterOptions tunes a Poster; zero values take the defaults.
type PosterOptions struct {
	// QueueSize bounds the events waiting to be sent (default 1000).
	QueueSize int
	// Timeout bounds one POST (default 5s, as Flux).
	Timeout time.Duration
	// Retries after the first attempt, on connection errors and 5xx answers (default 4).
	Retries int
	// Backoff before the first retry, doubled for each further one (default 200ms).
	Backoff time.Duration
}

// NewPoster returns a Poster that sends to address, an http(s) URL.
func NewPoster(address string, o PosterOptions, log logr.Logger) *Poster {
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	return &Poster{
		address: address,
		client:  &http.Client{Timeout: o.Timeout},
		queue:   make(chan *eventv1.Event, o.QueueSize),
		log:     log.WithValues("address", redact.URL(address)),
		retries: o.Retries,
		backoff: o.Backoff,
	}
}

// Enqueue queues an event for delivery, or drops it when the queue is full.
func (p *Poster) Enqueue(ev *eventv1.Event) {
	select {
	case p.queue <- ev:
	default:
		if n := p.dropped.Add(1); n == 1 || n%100 == 0 {
			p.log.Info("event queue full, dropping events for notification-controller", "dropped", n)
		}
	}
}

// Dropped returns how many events were dropped because the queue was full.
func (p *Poster) Dropped() int64 { return p.dropped.Load() }

// Start sends queued events until ctx ends.
func (p *Poster) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-p.queue:
			if err := p.Post(ctx, ev); err != nil && ctx.Err() == nil {
				p.log.Error(err, "posting event to notification-controller",
					"object", ev.InvolvedObject.Kind+"/"+ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name,
					"reason", ev.Reason)
			}
		}
	}
}

// errPermanent marks an answer that retrying cannot change.
var errPermanent = errors.New("permanent")

// Post sends one event now, retrying connection errors and 5xx answers with backoff. A 429
// answer means notification-controller already has an identical event: it is not an error.
func (p *Poster) Post(ctx context.Context, ev *eventv1.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding event: %w", err)
	}
	delay := p.backoff
	for attempt := 0; ; attempt++ {
		err = p.post(ctx, body)
		if err == nil || errors.Is(err, errPermanent) || attempt >= p.retries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
}

func (p *Poster) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.address, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: building request: %v", errPermanent, redact.Error(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return redact.Error(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode < 300, resp.StatusCode == http.StatusTooManyRequests:
		return nil
	case resp.StatusCode >= 500:
		return fmt.Errorf("notification-controller answered %s", resp.Status)
	default:
		return fmt.Errorf("%w: notification-controller answered %s", errPermanent, resp.Status)
	}
}
