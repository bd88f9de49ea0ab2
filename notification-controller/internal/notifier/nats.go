package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/nats-io/nats.go"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

func init() { register("nats", newNATS) }

// natsPublisher publishes the event JSON on a subject (the channel), one connection per post:
// events are rare, and a held connection would outlive the Provider's Secret.
type natsPublisher struct {
	cfg *Config
}

func newNATS(cfg *Config) (Notifier, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("a nats Provider needs the server's URL as its address")
	}
	u, err := url.Parse(cfg.Address)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("a nats Provider's address is nats://<host>:<port> (or tls://, ws://, wss://)")
	}
	if cfg.Channel == "" {
		return nil, fmt.Errorf("a nats Provider needs the subject as its channel")
	}
	return &natsPublisher{cfg: cfg}, nil
}

func (n *natsPublisher) Post(ctx context.Context, ev *event.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return permanent("the event cannot be encoded: %v", err)
	}
	opts := []nats.Option{nats.Name("notification-controller"), nats.NoReconnect()}
	if deadline, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(timeUntil(deadline)))
	}
	switch {
	case n.cfg.Username != "" && n.cfg.Password != "":
		opts = append(opts, nats.UserInfo(n.cfg.Username, n.cfg.Password))
	case n.cfg.Token != "":
		opts = append(opts, nats.Token(n.cfg.Token))
	}
	if tlsCfg := clientTLS(n.cfg.Client); tlsCfg != nil {
		opts = append(opts, nats.Secure(tlsCfg))
	}
	conn, err := nats.Connect(n.cfg.Address, opts...)
	if err != nil {
		return &Error{Retry: true, Err: fmt.Errorf("connecting to NATS failed: %s", withoutAddressText(err.Error(), n.cfg.Address))}
	}
	defer conn.Close()
	if err := conn.Publish(n.cfg.Channel, data); err != nil {
		return &Error{Retry: true, Err: fmt.Errorf("publishing failed: %v", err)}
	}
	// Flush waits for the server to have the message, so that a 202 upstream is not a loss.
	if err := conn.FlushWithContext(ctx); err != nil {
		return &Error{Retry: true, Err: fmt.Errorf("publishing failed: %v", err)}
	}
	return nil
}
