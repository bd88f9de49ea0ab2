package notifier

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

// A NATS server in process, with a user, gets the event JSON on the channel's subject; a
// wrong password is refused without naming it.
func TestNATSPublishesTheEvent(t *testing.T) {
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, Username: "flux", Password: "nats-secret", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	sub, err := nats.Connect(srv.ClientURL(), nats.UserInfo("flux", "nats-secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	messages, err := sub.SubscribeSync("flux.events")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := New(Config{Type: "nats", Address: srv.ClientURL(), Channel: "flux.events", Username: "flux", Password: "nats-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Post(ctx, testEvent(event.SeverityInfo)); err != nil {
		t.Fatal(err)
	}
	msg, err := messages.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got event.Event
	if err := json.Unmarshal(msg.Data, &got); err != nil || got.InvolvedObject.Name != "apps" || got.Metadata["summary"] != "prod eu-west" {
		t.Errorf("message: %v %s", err, msg.Data)
	}

	n, _ = New(Config{Type: "nats", Address: srv.ClientURL(), Channel: "flux.events", Username: "flux", Password: "wrong-secret"})
	err = n.Post(ctx, testEvent(event.SeverityInfo))
	if err == nil || strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), strings.TrimPrefix(srv.ClientURL(), "nats://")) {
		t.Errorf("Post with a wrong password = %v", err)
	}
}
