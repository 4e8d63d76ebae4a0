package testutil

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/natsembed"
)

// NewNATS starts an embedded NATS server with JetStream storing in a
// temporary directory, connects to it and shuts both down when the test ends.
// Bus.URL is the server's address for anything else the test starts.
func NewNATS(t testing.TB) *events.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := natsembed.Connect(ctx, t.TempDir(), "test-"+t.Name(), nil)
	if err != nil {
		t.Fatalf("testutil: embedded NATS: %v", err)
	}
	t.Cleanup(bus.Close)
	return bus
}

// ExternalNATS connects to the NATS at NATS_URL, or skips the test when
// NATS_URL is unset. Streams the test creates are its own to delete.
func ExternalNATS(t testing.TB) *events.Bus {
	t.Helper()
	url := os.Getenv("NATS_URL")
	if url == "" {
		t.Skip("NATS_URL is not set; skipping the test against an external NATS")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bus, err := events.Connect(ctx, url, "test-"+t.Name(), nil)
	if err != nil {
		t.Fatalf("testutil: NATS_URL=%s: %v", url, err)
	}
	t.Cleanup(bus.Close)
	return bus
}
