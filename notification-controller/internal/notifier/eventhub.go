package notifier

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

func init() { register("azureeventhub", newEventHub) }

// eventHub sends the event JSON to an Azure Event Hub named by a connection string (the
// address, from the Secret), with a shared access key. Flux's other form, a JWT token with
// the namespace as the channel, is refused until it can be tested.
type eventHub struct {
	cfg *Config
	hub string
}

func newEventHub(cfg *Config) (Notifier, error) {
	if cfg.Token != "" {
		return nil, fmt.Errorf("an azureeventhub Provider authenticates with a connection string as its address; a 'token' is not supported by this version of notification-controller")
	}
	props, err := azeventhubs.ParseConnectionString(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("an azureeventhub Provider's address is the Event Hub's connection string (Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=...)")
	}
	if props.EntityPath == nil || *props.EntityPath == "" {
		return nil, fmt.Errorf("an azureeventhub Provider's connection string names no Event Hub (EntityPath)")
	}
	return &eventHub{cfg: cfg, hub: *props.EntityPath}, nil
}

func (e *eventHub) Post(ctx context.Context, ev *event.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return permanent("the event cannot be encoded: %v", err)
	}
	client, err := azeventhubs.NewProducerClientFromConnectionString(e.cfg.Address, "", &azeventhubs.ProducerClientOptions{
		TLSConfig:    clientTLS(e.cfg.Client),
		RetryOptions: azeventhubs.RetryOptions{MaxRetries: -1}, // the dispatcher retries
	})
	if err != nil {
		return permanent("the Event Hubs client cannot be made")
	}
	defer client.Close(context.WithoutCancel(ctx))
	batch, err := client.NewEventDataBatch(ctx, nil)
	if err != nil {
		return &Error{Retry: true, Err: fmt.Errorf("connecting to the Event Hub failed: %s", e.scrub(err))}
	}
	if err := batch.AddEventData(&azeventhubs.EventData{Body: data, ContentType: ptr("application/json")}, nil); err != nil {
		return permanent("the event does not fit an Event Hubs batch: %v", err)
	}
	if err := client.SendEventDataBatch(ctx, batch, nil); err != nil {
		return &Error{Retry: true, Err: fmt.Errorf("sending to the Event Hub failed: %s", e.scrub(err))}
	}
	return nil
}

// scrub keeps the connection string's key and endpoint out of a library error.
func (e *eventHub) scrub(err error) string {
	msg := err.Error()
	if props, perr := azeventhubs.ParseConnectionString(e.cfg.Address); perr == nil {
		for _, s := range []*string{props.SharedAccessKey, props.SharedAccessSignature} {
			if s != nil && *s != "" {
				msg = withoutAddressText(msg, *s)
			}
		}
		msg = withoutAddressText(msg, props.FullyQualifiedNamespace)
	}
	return msg
}

func ptr[T any](v T) *T { return &v }
