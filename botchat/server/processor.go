package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botchat/live"
	"github.com/botserver-go/botserver-go/botchat/pipeline"
	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/authz"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// Start runs the sweeper: it takes over conversations whose messages wait
// with no live lease (a replica died holding it).
func (s *Server) Start(context.Context) error {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.sweep)
		defer t.Stop()
		for {
			select {
			case <-s.stopping:
				return
			case <-t.C:
				s.sweepOnce()
			}
		}
	}()
	return nil
}

// Stop lets running turns finish until ctx ends, then cancels them. Their
// leases are given up, so another replica goes on at once.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopping) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.cancelBase()
		<-done
		return ctx.Err()
	}
}

func (s *Server) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

func (s *Server) sweepOnce() {
	ctx, cancel := context.WithTimeout(s.base, s.sweep)
	defer cancel()
	refs, err := s.store.Stranded(ctx, 100)
	if err != nil {
		s.log.Warn("sweep stranded conversations", "err", err)
		return
	}
	for _, r := range refs {
		token := uuid.NewString()
		ok, err := s.store.Take(ctx, r.Org, r.ID, token, s.ttl)
		if err != nil {
			s.log.Warn("take stranded conversation", "conversation", r.ID, "err", err)
			continue
		}
		if !ok {
			continue
		}
		s.log.Info("took over a stranded conversation", "conversation", r.ID)
		c, m, err := s.store.Next(ctx, r.Org, r.ID, token, s.ttl)
		if err != nil {
			s.log.Warn("stranded conversation", "conversation", r.ID, "err", err)
			continue
		}
		s.drain(r.Org, c, m, token)
	}
}

// drain starts running a conversation's pending messages from m (the
// caller holds its lease with token).
func (s *Server) drain(org string, c *store.Conversation, m *store.Message, token string) {
	if s.isStopping() {
		s.abandon(org, c.ID, token) // another replica goes on
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runConversation(org, c, m, token)
	}()
}

// running is the state of the conversation a replica is running, for
// control requests from other replicas.
type running struct {
	mu      sync.Mutex
	inbound string
	frames  []*chatv1.Frame
	cancel  context.CancelFunc
}

func (r *running) begin(inbound string, cancel context.CancelFunc) {
	r.mu.Lock()
	r.inbound, r.frames, r.cancel = inbound, nil, cancel
	r.mu.Unlock()
}

func (r *running) end() {
	r.mu.Lock()
	r.inbound, r.frames, r.cancel = "", nil, nil
	r.mu.Unlock()
}

func (r *running) control(req string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case req == live.CtlSnapshot:
		b, _ := proto.Marshal(&chatv1.ReplayResponse{Frames: r.frames})
		return b
	case req == live.CtlCancel || strings.HasPrefix(req, live.CtlCancel+":"):
		want := strings.TrimPrefix(strings.TrimPrefix(req, live.CtlCancel), ":")
		if r.cancel != nil && (want == "" || want == r.inbound) {
			r.cancel()
			return []byte("1")
		}
		return []byte("0")
	}
	return nil
}

// emitter publishes a turn's frames and keeps them for snapshots.
type emitter struct {
	s       *Server
	r       *running
	conv    string
	replyTo string
	n       int32
}

func (e *emitter) Emit(f *chatv1.Frame) {
	e.n++
	f.ConversationId, f.ReplyTo, f.Frame = e.conv, e.replyTo, e.n
	e.r.mu.Lock()
	e.r.frames = append(e.r.frames, f)
	e.r.mu.Unlock()
	if err := e.s.hub.Publish(e.conv, f); err != nil {
		e.s.log.Warn("publish frame", "conversation", e.conv, "err", err)
	}
}

func (s *Server) runConversation(org string, c *store.Conversation, m *store.Message, token string) {
	r := &running{}
	stop, err := s.hub.Serve(c.ID, r.control)
	if err != nil {
		s.log.Error("serve conversation control", "conversation", c.ID, "err", err)
		return // the lease expires and a sweeper retries
	}
	defer stop()
	for m != nil {
		if s.isStopping() {
			s.abandon(org, c.ID, token)
			return
		}
		next, ok := s.turn(org, c, m, token, r)
		if !ok || next.Released {
			return
		}
		c, m = next.Conv, next.Next
	}
	// Nothing pending (a sweeper's take raced a finished turn): let go.
	if _, err := s.store.Release(s.base, org, c.ID, token); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		s.log.Warn("release", "conversation", c.ID, "err", err)
	}
}

// abandon gives up a lease at stop (pending messages go to another replica).
func (s *Server) abandon(org, convID, token string) {
	if _, err := s.store.Release(s.base, org, convID, token); err != nil {
		s.log.Warn("release at stop", "conversation", convID, "err", err)
	}
	// With messages pending Release keeps the lease: expire it now.
	_ = s.store.Renew(s.base, org, convID, token, -time.Second)
}

// turn runs one message, stores what it produced and returns what comes
// next; false stops the conversation's loop (lease lost or storage failing).
func (s *Server) turn(org string, c *store.Conversation, m *store.Message, token string, r *running) (*store.Continued, bool) {
	ctx, cancel := context.WithCancel(authz.ForOrg(s.base, org))
	defer cancel()
	r.begin(m.ID, cancel)
	defer r.end()
	em := &emitter{s: s, r: r, conv: c.ID, replyTo: m.ID}

	// Renew the lease while the turn runs; losing it stops the turn.
	renewDone := make(chan struct{})
	go func() {
		t := time.NewTicker(s.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-renewDone:
				return
			case <-t.C:
				if err := s.store.Renew(s.base, org, c.ID, token, s.ttl); errors.Is(err, store.ErrLeaseLost) {
					cancel()
					return
				}
			}
		}
	}()
	res := &pipeline.Result{}
	if c.Handoff == store.StateBot {
		res = s.pipe.Run(ctx, &pipeline.Input{
			Conv: c, Msg: m,
			History: func(ctx context.Context, n int) ([]*store.Message, error) {
				return s.store.Recent(ctx, org, c.ID, m.Seq, n)
			},
			LastUser: func(ctx context.Context) (*store.Message, error) {
				return s.store.LastUserMessage(ctx, org, c.ID, m.Seq)
			},
		}, em)
	}
	close(renewDone)
	fin := &store.Finish{Conv: c, Inbound: m.ID, InboundSeq: m.Seq, Outputs: res.Outputs, Transfer: res.Transfer}
	next, err := s.store.FinishTurn(s.base, org, token, s.ttl, fin)
	if errors.Is(err, store.ErrLeaseLost) {
		s.log.Warn("lease lost during a turn; another replica runs the message again", "conversation", c.ID, "message", m.ID)
		return nil, false
	}
	if err != nil {
		s.log.Error("store turn", "conversation", c.ID, "message", m.ID, "err", err)
		em.Emit(&chatv1.Frame{Type: "error", Code: "internal", Message: "the answer could not be stored; it will be tried again"})
		return nil, false
	}
	if res.Transfer != nil {
		em.Emit(&chatv1.Frame{Type: "handoff", State: store.StateQueued})
	}
	if next.Handoff != nil {
		s.announceHandoff(next.Handoff)
	}
	em.Emit(&chatv1.Frame{Type: "turn_end"})
	return next, true
}
