package notifier

import (
	"context"
	"encoding/json"
	"fmt"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

func init() { register("googlepubsub", newPubSub) }

// pubSub publishes the event JSON to a Google Cloud Pub/Sub topic: the address is the
// project id, the channel the topic id, the token (optional) a service account's JSON key,
// and the headers become message attributes. Without a token the workload's own identity
// (application default credentials) is used; PUBSUB_EMULATOR_HOST points the client at an
// emulator.
type pubSub struct{ cfg *Config }

func newPubSub(cfg *Config) (Notifier, error) {
	if cfg.Address == "" || cfg.Channel == "" {
		return nil, fmt.Errorf("a googlepubsub Provider needs the project id as its address and the topic id as its channel")
	}
	if cfg.Token != "" && !json.Valid([]byte(cfg.Token)) {
		return nil, fmt.Errorf("a googlepubsub Provider's 'token' is a service account's JSON key")
	}
	return &pubSub{cfg: cfg}, nil
}

func (p *pubSub) Post(ctx context.Context, ev *event.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return permanent("the event cannot be encoded: %v", err)
	}
	var opts []option.ClientOption
	if p.cfg.Token != "" {
		opts = append(opts, option.WithAuthCredentialsJSON(option.ServiceAccount, []byte(p.cfg.Token)))
	}
	client, err := pubsub.NewClient(ctx, p.cfg.Address, opts...)
	if err != nil {
		return permanent("the Pub/Sub client cannot be made: %s", withoutAddressText(err.Error(), p.cfg.Address))
	}
	defer client.Close()
	publisher := client.Publisher(p.cfg.Channel)
	defer publisher.Stop()
	if _, err := publisher.Publish(ctx, &pubsub.Message{Data: data, Attributes: p.cfg.Headers}).Get(ctx); err != nil {
		return &Error{Retry: true, Err: fmt.Errorf("publishing to Pub/Sub failed: %s", withoutAddressText(err.Error(), p.cfg.Address))}
	}
	return nil
}
