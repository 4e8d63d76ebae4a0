package live_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botchat/live"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Frames arrive in order; a reader that falls further behind than its
// buffer is told so instead of silently missing frames.
func TestSubscriptionOrderAndSlowReader(t *testing.T) {
	bus := testutil.NewNATS(t)
	hub := live.New(bus.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fast, err := hub.Subscribe("c1", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	slow, err := hub.Subscribe("c1", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	for i := range 10 {
		if err := hub.Publish("c1", &chatv1.Frame{Type: "message", Content: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		f, err := fast.Next(ctx)
		if err != nil || f.Content != fmt.Sprint(i) {
			t.Fatalf("frame %d: %v %v", i, f, err)
		}
	}
	// The slow subscription's frames arrive on its own goroutine: wait
	// until all ten were handed to it before reading.
	for deadline := time.Now().Add(5 * time.Second); live.Received(slow) < 10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the slow subscription got %d of 10 frames", live.Received(slow))
		}
	}
	if _, err := slow.Next(ctx); !errors.Is(err, live.ErrSlow) {
		t.Fatalf("a reader 7 frames past its buffer of 3 got %v", err)
	}
	// Next waits for a frame until its context ends.
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if _, err := fast.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an idle subscription returned %v", err)
	}
}
