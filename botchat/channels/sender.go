package channels

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxRateWait is how long a send waits for its rate slot in place; a
// longer wait puts the row back until its slot.
const maxRateWait = 2 * time.Second

// Start runs the sender: it claims due sends and delivers them.
func (s *Service) Start(context.Context) error {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.o.Poll)
		defer t.Stop()
		for {
			select {
			case <-s.stopping:
				return
			case <-t.C:
				s.sendDue()
			}
		}
	}()
	return nil
}

// Stop lets sends in flight finish until ctx ends, then cancels them (their
// rows go back to the queue when their claim expires).
func (s *Service) Stop(ctx context.Context) error {
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

// claimTTL bounds one claimed row's sending: every part may wait for its
// rate slot and its HTTP answer; each accepted part renews it.
func (s *Service) claimTTL() time.Duration { return 2*s.o.SendTimeout + 2*maxRateWait }

// sendDue claims as many due rows as there are free workers.
func (s *Service) sendDue() {
	free := cap(s.slots) - len(s.slots)
	if free <= 0 {
		return
	}
	token := uuid.NewString()
	ctx, cancel := context.WithTimeout(s.base, s.o.Poll+5*time.Second)
	rows, err := s.outbox.Claim(ctx, token, s.claimTTL(), free)
	cancel()
	if err != nil {
		if s.base.Err() == nil {
			s.log.Warn("claim channel sends", "err", err)
		}
		return
	}
	for _, r := range rows {
		s.slots <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-s.slots; s.wg.Done() }()
			s.process(r, token)
		}()
	}
}

// backoff is the wait before attempt n+1 (n >= 1): RetryBase doubling,
// capped at RetryMax, with ±20% jitter so retries of many rows spread.
func (s *Service) backoff(n int) time.Duration {
	d := s.o.RetryBase
	for i := 1; i < n && d < s.o.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.o.RetryMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// process sends a claimed row's remaining parts in order.
func (s *Service) process(r *Row, token string) {
	ctx := s.base
	log := s.log.With("channel", r.Channel, "bot", r.Bot, "conversation", r.ConversationID, "message", r.MessageID)
	later := func(at time.Time, reason string, count bool) {
		if err := s.outbox.Retry(ctx, r, token, at, reason, count); err != nil && !errors.Is(err, errClaimLost) {
			log.Warn("requeue channel send", "err", err)
		}
	}
	ad, ok := s.adapters[r.Channel]
	if !ok {
		_ = s.outbox.Dead(ctx, r, token, "unknown channel "+r.Channel)
		return
	}
	cfg, err := s.config(ctx, r.Org, r.Bot)
	if err != nil {
		if status.Code(err) == codes.NotFound {
			_ = s.outbox.Dead(ctx, r, token, "the bot no longer exists")
			return
		}
		s.fail(ctx, r, token, &SendError{Retryable: true, Reason: status.Convert(err).Message()}, log)
		return
	}
	parts := s.parts(ad, r)
	interval := time.Duration(float64(time.Second) / s.o.Rate)
	for p := r.PartsSent; p < len(parts); p++ {
		slot, ok, free, err := s.outbox.Reserve(ctx, r.Org, r.Bot, r.Channel, interval, maxRateWait)
		if err != nil {
			later(time.Now().Add(s.o.RetryBase), "rate limit: "+err.Error(), false)
			return
		}
		if !ok {
			// The bot's rate is used up for a while: wait in the queue,
			// not in a worker, and do not count it as an attempt.
			later(free, "waiting for the bot's send rate", false)
			return
		}
		if d := time.Until(slot); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return // stopping: the claim expires and another replica goes on
			}
		}
		o := &Outgoing{Bot: r.Bot, Channel: r.Channel, To: r.Address, ConversationID: r.ConversationID, MessageID: r.MessageID,
			Part: p, Parts: len(parts), Text: parts[p], IdempotencyKey: r.MessageID + ":" + strconv.Itoa(p+1)}
		if p == len(parts)-1 {
			o.Suggestions = r.Suggestions
		}
		sctx, cancel := context.WithTimeout(ctx, s.o.SendTimeout)
		id, err := ad.send(sctx, s.o.HTTP, cfg, o)
		cancel()
		if err != nil {
			var se *SendError
			if !errors.As(err, &se) {
				se = &SendError{Retryable: true, Reason: err.Error()}
			}
			s.fail(ctx, r, token, se, log)
			return
		}
		if err := s.outbox.PartSent(ctx, r, token, p+1, id, s.claimTTL()); err != nil {
			// The part went out; if the claim was lost another worker may
			// send it again: log it, this is the one window for a repeat.
			log.Warn("record a sent part", "part", p+1, "err", err)
			return
		}
	}
	if err := s.outbox.Sent(ctx, r, token); err != nil && !errors.Is(err, errClaimLost) {
		log.Warn("mark channel send done", "err", err)
	}
}

// fail retries a failed send after its back-off (or the channel's
// Retry-After) or, when it cannot succeed or attempts are used up, leaves
// the row dead with the reason.
func (s *Service) fail(ctx context.Context, r *Row, token string, se *SendError, log *slog.Logger) {
	attempts := r.Attempts + 1
	reason := se.Error()
	if !se.Retryable || attempts >= s.o.MaxAttempts {
		if se.Retryable {
			reason = "gave up after " + strconv.Itoa(attempts) + " attempts: " + reason
		}
		log.Warn("channel send is dead", "attempts", attempts, "reason", reason)
		if err := s.outbox.Dead(ctx, r, token, reason); err != nil && !errors.Is(err, errClaimLost) {
			log.Warn("mark channel send dead", "err", err)
		}
		return
	}
	wait := s.backoff(attempts)
	if se.RetryAfter > 0 {
		wait = min(se.RetryAfter, time.Hour) // the channel knows best, within reason
	}
	if err := s.outbox.Retry(ctx, r, token, time.Now().Add(wait), reason, true); err != nil && !errors.Is(err, errClaimLost) {
		log.Warn("requeue channel send", "err", err)
	}
}

// parts cuts a row's text for its channel; a message that is only buttons
// is one part (the adapter gives it a body).
func (s *Service) parts(ad adapter, r *Row) []string {
	if strings.TrimSpace(r.Content) == "" {
		return []string{""}
	}
	maxText, withButtons := ad.limits()
	last := maxText
	if len(r.Suggestions) > 0 {
		last = withButtons
	}
	return split(r.Content, maxText, last)
}
