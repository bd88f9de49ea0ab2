package notifier

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

// No Event Hubs service runs here: the test checks what can be checked locally. A
// connection string is required and must name the hub, and a hub that cannot be reached is
// a retryable failure whose message shows neither the key nor the endpoint.
func TestEventHubRefusesWhatItCannotUse(t *testing.T) {
	for _, cfg := range []Config{
		{Type: "azureeventhub", Address: "https://not-a-connection-string"},
		{Type: "azureeventhub", Address: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k"},
		{Type: "azureeventhub", Address: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k;EntityPath=hub", Token: "jwt"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%q) succeeded", cfg.Address)
		} else if strings.Contains(err.Error(), "SharedAccessKey=k") {
			t.Errorf("the error shows the key: %v", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	n, err := New(Config{Type: "azureeventhub", Address: "Endpoint=sb://" + addr + "/;SharedAccessKeyName=send;SharedAccessKey=hub-secret-key;EntityPath=flux;UseDevelopmentEmulator=true"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = n.Post(ctx, testEvent(event.SeverityInfo))
	if err == nil || !Retryable(err) {
		t.Fatalf("Post to nothing = %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), "hub-secret-key") || strings.Contains(err.Error(), addr) {
		t.Errorf("the error leaks: %v", err)
	}
}
