package notifier

import (
	"encoding/json"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

// The Pub/Sub emulator in process gets the event JSON on the topic, with the headers as
// attributes.
func TestPubSubPublishesTheEvent(t *testing.T) {
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	ctx := t.Context()
	if _, err := srv.GServer.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/fleet/topics/flux"}); err != nil {
		t.Fatal(err)
	}
	post(t, Config{Type: "googlepubsub", Address: "fleet", Channel: "flux", Headers: map[string]string{"cluster": "eu-1"}}, testEvent(event.SeverityInfo))
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	var got event.Event
	if err := json.Unmarshal(msgs[0].Data, &got); err != nil || got.InvolvedObject.Name != "apps" {
		t.Errorf("message: %v %s", err, msgs[0].Data)
	}
	if msgs[0].Attributes["cluster"] != "eu-1" {
		t.Errorf("attributes: %v", msgs[0].Attributes)
	}
	n, _ := New(Config{Type: "googlepubsub", Address: "fleet", Channel: "missing"})
	if err := n.Post(ctx, testEvent(event.SeverityInfo)); err == nil {
		t.Error("publishing to a missing topic succeeded")
	}
	if _, err := New(Config{Type: "googlepubsub", Address: "fleet", Channel: "flux", Token: "not json"}); err == nil {
		t.Error("a token that is not a JSON key was accepted")
	}
}
