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
	hub, err := live.Dial(bus, "test")
	if err != nil {
		t.Fatal(err)
	}
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

// A frame reaches the publisher's own subscribers directly and another
// process's through NATS, each exactly once; control requests reach the
// replica serving the conversation from its own process and from others.
func TestLocalAndRemoteDelivery(t *testing.T) {
	bus := testutil.NewNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var hubs [2]*live.Hub
	for i := range hubs {
		h, err := live.Dial(bus, fmt.Sprint("replica-", i))
		if err != nil {
			t.Fatal(err)
		}
		hubs[i] = h
	}
	var subs [2]*live.Sub
	for i, h := range hubs {
		s, err := h.Subscribe("c1", 100)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs[i] = s
	}
	const n = 50
	for i := range n {
		if err := hubs[i%2].Publish("c1", &chatv1.Frame{Type: "message", Content: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range subs {
		seen := map[string]int{}
		for range n {
			f, err := s.Next(ctx)
			if err != nil {
				t.Fatalf("subscriber %d after %d frames: %v", i, len(seen), err)
			}
			seen[f.Content]++
		}
		for j := range n {
			if seen[fmt.Sprint(j)] != 1 {
				t.Fatalf("subscriber %d got frame %d %d times", i, j, seen[fmt.Sprint(j)])
			}
		}
		short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
		if f, err := s.Next(short); err == nil {
			t.Fatalf("subscriber %d got an extra frame %v (an echo?)", i, f)
		}
		stop()
	}
	// Each publisher's own frames keep their order on both paths.
	for i, s := range subs {
		s.Close()
		subs[i], _ = hubs[i].Subscribe("c2", 100)
		defer subs[i].Close()
	}
	for i := range 20 {
		_ = hubs[0].Publish("c2", &chatv1.Frame{Content: fmt.Sprint(i)})
	}
	for i, s := range subs {
		for j := range 20 {
			if f, err := s.Next(ctx); err != nil || f.Content != fmt.Sprint(j) {
				t.Fatalf("subscriber %d frame %d: %v %v", i, j, f, err)
			}
		}
	}

	stop, err := hubs[0].Serve("c1", func(req string) []byte { return []byte("answer to " + req) })
	if err != nil {
		t.Fatal(err)
	}
	// Serve does not wait for the server; a frame published after it, once
	// another process has it, shows the server has the responder too.
	_ = hubs[0].Publish("c2", &chatv1.Frame{Content: "served"})
	if f, err := subs[1].Next(ctx); err != nil || f.Content != "served" {
		t.Fatalf("frame after Serve: %v %v", f, err)
	}
	for i, h := range hubs {
		resp, ok, err := h.Request(ctx, "c1", live.CtlSnapshot)
		if err != nil || !ok || string(resp) != "answer to snapshot" {
			t.Fatalf("request from replica %d: %q %v %v", i, resp, ok, err)
		}
	}
	stop()
	for i, h := range hubs {
		if _, ok, err := h.Request(ctx, "c1", live.CtlSnapshot); err != nil || ok {
			t.Fatalf("request from replica %d after the server stopped: ok %v, %v", i, ok, err)
		}
	}
}
