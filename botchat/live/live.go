// Package live carries a conversation's frames between botchat replicas
// over core NATS (not JetStream: frames are ephemeral; what must survive is
// in Postgres). The replica running a turn publishes every frame on the
// conversation's subject; whoever streams the conversation to a client
// (Watch, Send) subscribes to it, on any replica. The running replica also
// answers control requests on the conversation's control subject: a
// snapshot of the turn in progress (so a client reconnecting mid-stream
// gets what it missed) and cancel.
//
// Within one process nothing goes through NATS: Publish hands a frame to
// the process's own subscribers itself and Request calls the process's own
// control handler, and the hub's connection is its own, with NoEcho, so
// NATS carries only what other processes publish. (Through NATS, each frame
// took a publish, a server read and write, a client read and a dispatch to
// the subscription's goroutine, even with publisher and subscriber side by
// side in the all-in-one.)
package live

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botstate/events"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Control requests.
const (
	CtlSnapshot = "snapshot"
	CtlCancel   = "cancel"
)

// Hub publishes and subscribes frames.
type Hub struct {
	nc *nats.Conn // NoEcho

	mu   sync.RWMutex
	subs map[string]map[*Sub]struct{} // this process's subscriptions, by subject
	ctl  map[string]*control          // this process's control handlers, by conversation
}

type control struct{ fn func(req string) []byte }

// Dial returns a Hub on its own connection to bus's server.
func Dial(bus *events.Bus, name string) (*Hub, error) {
	nc, err := bus.Dial(name, nats.NoEcho())
	if err != nil {
		return nil, err
	}
	return &Hub{nc: nc, subs: map[string]map[*Sub]struct{}{}, ctl: map[string]*control{}}, nil
}

func liveSubject(conv string) string   { return "botchat.live." + conv }
func ctlSubject(conv string) string    { return "botchat.ctl." + conv }
func handoffSubject(org string) string { return "botchat.handoffs." + org }

// publish hands data to this process's subscribers of subject, then to
// NATS for the others.
func (h *Hub) publish(subject string, data []byte) error {
	h.mu.RLock()
	for s := range h.subs[subject] {
		s.deliver(data)
	}
	h.mu.RUnlock()
	return h.nc.Publish(subject, data)
}

// Publish sends a frame to the conversation's watchers.
func (h *Hub) Publish(conv string, f *chatv1.Frame) error {
	b, err := proto.Marshal(f)
	if err != nil {
		return err
	}
	return h.publish(liveSubject(conv), b)
}

// Sub is a subscription to a conversation's frames.
type Sub struct {
	hub     *Hub
	subject string
	sub     *nats.Subscription
	// A queue that grows as frames wait, up to max: most subscriptions
	// hold a frame or two, so none is allocated for the worst case.
	mu      sync.Mutex
	queue   [][]byte
	max     int
	dropped bool
	got     int           // frames handed to the subscription (tests)
	ready   chan struct{} // a frame waits (capacity 1)
}

// ErrSlow means frames were dropped because the subscriber fell behind.
var ErrSlow = errors.New("frames were dropped: the client is too slow; reconnect to catch up")

// Subscribe starts receiving the conversation's frames; buffer bounds the
// frames held for a slow reader: past it frames are dropped and Next says so.
func (h *Hub) Subscribe(conv string, buffer int) (*Sub, error) {
	return h.subscribe(liveSubject(conv), buffer)
}

func (h *Hub) subscribe(subject string, buffer int) (*Sub, error) {
	s := &Sub{hub: h, subject: subject, max: buffer, ready: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.subs[subject] == nil {
		h.subs[subject] = map[*Sub]struct{}{}
	}
	h.subs[subject][s] = struct{}{}
	h.mu.Unlock()
	sub, err := h.nc.Subscribe(subject, func(m *nats.Msg) { s.deliver(m.Data) })
	if err == nil {
		s.sub = sub
		// The subscription exists on the server once it has seen this
		// flush, so nothing another process publishes after Subscribe
		// returns is missed (this process's frames come the direct way).
		err = h.nc.Flush()
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// deliver queues a frame for the reader; it never blocks the publisher.
func (s *Sub) deliver(data []byte) {
	s.mu.Lock()
	s.got++
	if len(s.queue) < s.max {
		s.queue = append(s.queue, data)
	} else {
		s.dropped = true
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Next returns the next frame; ctx ending returns its error.
func (s *Sub) Next(ctx context.Context) (*chatv1.Frame, error) {
	f := &chatv1.Frame{}
	return f, s.next(ctx, f)
}

func (s *Sub) next(ctx context.Context, m proto.Message) error {
	for {
		s.mu.Lock()
		if s.dropped {
			s.mu.Unlock()
			return ErrSlow
		}
		if len(s.queue) > 0 {
			data := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.mu.Unlock()
			if err := proto.Unmarshal(data, m); err != nil {
				return fmt.Errorf("live message: %w", err)
			}
			return nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ready:
		}
	}
}

// PublishHandoff tells the organisation's attendants, on every replica,
// that c's hand-off state changed.
func (h *Hub) PublishHandoff(org string, c *chatv1.Conversation) error {
	b, err := proto.Marshal(c)
	if err != nil {
		return err
	}
	return h.publish(handoffSubject(org), b)
}

// SubscribeHandoffs receives the organisation's hand-off changes.
func (h *Hub) SubscribeHandoffs(org string, buffer int) (*HandoffSub, error) {
	s, err := h.subscribe(handoffSubject(org), buffer)
	if err != nil {
		return nil, err
	}
	return &HandoffSub{s}, nil
}

// HandoffSub is a subscription to an organisation's hand-off changes.
type HandoffSub struct{ *Sub }

// Next returns the next conversation whose hand-off state changed.
func (s *HandoffSub) Next(ctx context.Context) (*chatv1.Conversation, error) {
	c := &chatv1.Conversation{}
	return c, s.next(ctx, c)
}

// Close ends the subscription.
func (s *Sub) Close() {
	h := s.hub
	h.mu.Lock()
	delete(h.subs[s.subject], s)
	if len(h.subs[s.subject]) == 0 {
		delete(h.subs, s.subject)
	}
	h.mu.Unlock()
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
}

// Serve answers control requests for a conversation until the returned
// function is called: this process's requests directly, other processes'
// through NATS. It does not wait for the server to confirm the
// subscription (a round trip per turn): the subscription and the turn's
// frames leave on the same connection, which the server reads in order, so
// by the time any frame of the turn is out the server answers for it. A
// snapshot asked before that finds no responder and rightly no frame to
// miss.
func (h *Hub) Serve(conv string, fn func(req string) []byte) (func(), error) {
	c := &control{fn: fn}
	h.mu.Lock()
	h.ctl[conv] = c
	h.mu.Unlock()
	unserve := func() {
		h.mu.Lock()
		if h.ctl[conv] == c { // not a later Serve's
			delete(h.ctl, conv)
		}
		h.mu.Unlock()
	}
	sub, err := h.nc.Subscribe(ctlSubject(conv), func(m *nats.Msg) { _ = m.Respond(fn(string(m.Data))) })
	if err != nil {
		unserve()
		return nil, err
	}
	return func() { unserve(); _ = sub.Unsubscribe() }, nil
}

// Request asks the replica running the conversation; ok is false when none
// is (no responder).
func (h *Hub) Request(ctx context.Context, conv, req string) (resp []byte, ok bool, err error) {
	h.mu.RLock()
	c := h.ctl[conv]
	h.mu.RUnlock()
	if c != nil {
		return c.fn(req), true, nil
	}
	m, err := h.nc.RequestWithContext(ctx, ctlSubject(conv), []byte(req))
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return m.Data, true, nil
}
