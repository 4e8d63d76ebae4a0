package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botstate/lifecycle"
	"github.com/botserver-go/botserver-go/botstate/pg"
)

// Headers of a dead letter on bot.dlq.<durable>, besides the original ones.
const (
	HeaderDLQSubject    = "Bot-Dlq-Subject"    // the event's subject
	HeaderDLQEventID    = "Bot-Dlq-Event-Id"   // Message.ID
	HeaderDLQError      = "Bot-Dlq-Error"      // the last handler error
	HeaderDLQDeliveries = "Bot-Dlq-Deliveries" // how many times it was delivered
	HeaderDLQStream     = "Bot-Dlq-Stream"     // source stream and sequence, to find the original
	HeaderDLQSequence   = "Bot-Dlq-Sequence"
	HeaderDLQConsumer   = "Bot-Dlq-Consumer"
)

// Message is an event as a handler sees it.
type Message struct {
	Subject string
	// ID is the event id: the Nats-Msg-Id header, which the relay sets to the
	// outbox id, so every copy of an event has the same ID. A message
	// published without Nats-Msg-Id (not through the outbox) gets
	// "<stream>:<sequence>" instead: stable across redeliveries of that
	// message, but a second publish of the same event is a new ID and is
	// not deduplicated.
	ID         string
	Type       string // protobuf full name of the payload (Bot-Event-Type), if any
	Data       []byte
	Headers    map[string]string // first value of each header
	Deliveries int               // 1 on the first delivery
	Stream     string
	Sequence   uint64    // stream sequence
	Time       time.Time // when the stream stored it
}

// Decode unmarshals the payload into dst, checking the event type when the
// producer recorded one.
func (m Message) Decode(dst proto.Message) error {
	if want := string(dst.ProtoReflect().Descriptor().FullName()); m.Type != "" && m.Type != want {
		return fmt.Errorf("events: %s carries %s, not %s", m.Subject, m.Type, want)
	}
	return proto.Unmarshal(m.Data, dst)
}

// Handler applies one event. Its writes go through tx, which also records the
// event as processed: commit makes both happen, or neither. It must not
// commit or roll back tx. A returned error means "retry later".
type Handler func(ctx context.Context, tx pgx.Tx, m Message) error

// ConsumerOptions configure a Consumer.
type ConsumerOptions struct {
	Stream         string   // stream to read, StreamName(svc) of the producer
	Durable        string   // <consumer>_<purpose>, e.g. audit_log
	FilterSubjects []string // optional; default the whole stream
	Schema         string   // the consuming service's schema, holding processed_events
	Handler        Handler

	// MaxDeliver is how many deliveries a message gets before it is
	// dead-lettered. Default 5.
	MaxDeliver int
	// Backoff[n-1] is the delay after failed attempt n; the last value
	// repeats. Default 1s, 5s, 30s, 2m.
	Backoff []time.Duration
	// AckWait is how long a delivery may take before JetStream gives the
	// message to someone else; the handler's context ends then. Default 30s.
	AckWait       time.Duration
	MaxAckPending int // default 1000
	// Prefetch is how many messages an instance buffers. Kept small: the
	// handler runs one at a time anyway, and buffered messages are handed
	// back at Stop, which counts as a delivery. Default 16.
	Prefetch int
	Log      *slog.Logger
}

var durableName = regexp.MustCompile(`^[a-z][a-z0-9]*_[a-z0-9_]*[a-z0-9]$`)

// Consumer runs a durable pull consumer, one message at a time.
type Consumer struct {
	js     jetstream.JetStream
	pool   *pgxpool.Pool
	opts   ConsumerOptions
	log    *slog.Logger
	tracer trace.Tracer
	markQ  string
	seenQ  string

	mu       sync.Mutex
	iter     jetstream.MessagesContext
	stopping bool
	stop     chan struct{}
	done     chan struct{}
	kill     context.CancelFunc
	failCtx  context.Context // Start's context, for lifecycle.Fail
}

// NewConsumer checks opts and fills in defaults; Start runs the consumer.
func NewConsumer(js jetstream.JetStream, pool *pgxpool.Pool, opts ConsumerOptions) (*Consumer, error) {
	switch {
	case opts.Stream == "":
		return nil, errors.New("events: consumer needs a Stream")
	case !durableName.MatchString(opts.Durable):
		return nil, fmt.Errorf("events: durable name %q: want <consumer>_<purpose> in lower case", opts.Durable)
	case opts.Handler == nil:
		return nil, errors.New("events: consumer needs a Handler")
	}
	if err := checkSchema(opts.Schema); err != nil {
		return nil, err
	}
	if opts.MaxDeliver <= 0 {
		opts.MaxDeliver = 5
	}
	if len(opts.Backoff) == 0 {
		opts.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.MaxAckPending <= 0 {
		opts.MaxAckPending = 1000
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 16
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Consumer{
		js: js, pool: pool, opts: opts,
		log:    opts.Log.With("consumer", opts.Durable, "stream", opts.Stream),
		tracer: otel.Tracer("github.com/botserver-go/botserver-go/botstate/events"),
		markQ: `INSERT INTO ` + pg.Ident(opts.Schema) + `.processed_events (consumer, event_id)
			VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		seenQ: `SELECT EXISTS (SELECT 1 FROM ` + pg.Ident(opts.Schema) + `.processed_events
			WHERE consumer = $1 AND event_id = $2)`,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}, nil
}

// Consume is NewConsumer followed by Start.
func Consume(ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, opts ConsumerOptions) (*Consumer, error) {
	c, err := NewConsumer(js, pool, opts)
	if err != nil {
		return nil, err
	}
	return c, c.Start(ctx)
}

// Start creates or updates the durable consumer (and the streams it needs)
// and starts handling messages in the background.
func (c *Consumer) Start(ctx context.Context) error {
	if _, err := c.pool.Exec(ctx, `SELECT 1 FROM `+pg.Ident(c.opts.Schema)+`.processed_events LIMIT 0`); err != nil {
		return fmt.Errorf("events: consumer %s: %w", c.opts.Durable, err)
	}
	if err := ensureDLQ(ctx, c.js); err != nil {
		return err
	}
	if err := ensureExists(ctx, c.js, c.opts.Stream); err != nil {
		return err
	}
	it, err := c.open(ctx)
	if err != nil {
		return err
	}
	c.iter = it
	c.failCtx = context.WithoutCancel(ctx)
	work, kill := context.WithCancel(c.failCtx)
	c.kill = kill
	go c.run(work)
	return nil
}

// Stop stops fetching, lets the message in hand finish and returns. Messages
// already fetched but not started are handed back at once (Nak) so another
// replica takes them without waiting for AckWait. When ctx ends first, the
// handler's context is cancelled (its transaction rolls back) and Stop
// returns ctx's error without waiting further.
func (c *Consumer) Stop(ctx context.Context) error {
	c.mu.Lock()
	already := c.stopping
	c.stopping = true
	if c.iter != nil {
		c.iter.Drain()
	}
	c.mu.Unlock()
	if !already {
		close(c.stop)
	}
	if c.kill == nil {
		return nil // never started
	}
	select {
	case <-c.done:
		c.kill()
		return nil
	case <-ctx.Done():
		c.kill()
		return ctx.Err()
	}
}

func (c *Consumer) open(ctx context.Context) (jetstream.MessagesContext, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.opts.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.opts.AckWait,
		MaxAckPending: c.opts.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// Unlimited on the server: the consumer counts deliveries itself and
		// dead-letters at MaxDeliver. A server-side limit would silently drop
		// a message that crashed the process on its last delivery, and would
		// leave nothing to retry when the dead-letter publish itself fails.
		MaxDeliver: -1,
		// No server BackOff either: it would replace AckWait with BackOff[0],
		// redelivering healthy slow handlers. Retries of failed attempts use
		// NakWithDelay with our Backoff instead.
	}
	if len(c.opts.FilterSubjects) == 1 {
		cfg.FilterSubject = c.opts.FilterSubjects[0]
	} else {
		cfg.FilterSubjects = c.opts.FilterSubjects
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.opts.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("events: consumer %s on %s: %w", c.opts.Durable, c.opts.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(c.opts.Prefetch), jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return nil, fmt.Errorf("events: consumer %s on %s: %w", c.opts.Durable, c.opts.Stream, err)
	}
	return it, nil
}

func (c *Consumer) run(ctx context.Context) {
	defer close(c.done)
	var bo backoff
	for {
		c.mu.Lock()
		it, stopping := c.iter, c.stopping
		c.mu.Unlock()
		if it == nil { // reopen after a failure
			if stopping {
				return
			}
			it, err := c.open(ctx)
			if err != nil {
				d := bo.next()
				c.log.Error("consumer reopen failed", "err", err, "retry_in", d)
				if !sleep(ctx, c.stop, d) {
					return
				}
				continue
			}
			c.mu.Lock()
			c.iter = it
			if c.stopping {
				it.Drain()
			}
			c.mu.Unlock()
			continue
		}
		msg, err := it.Next()
		if err != nil {
			if stopping || c.isStopping() {
				return // drained
			}
			if c.js.Conn().IsClosed() {
				lifecycle.Fail(c.failCtx, fmt.Errorf("events: consumer %s: NATS connection closed", c.opts.Durable))
				return
			}
			d := bo.next() // reset only by a message: a reopen that fails at once must not spin
			c.log.Warn("consumer interrupted; reopening", "err", err, "retry_in", d)
			it.Stop()
			c.mu.Lock()
			c.iter = nil
			c.mu.Unlock()
			if !sleep(ctx, c.stop, d) {
				return
			}
			continue
		}
		bo.reset()
		if c.isStopping() {
			_ = msg.Nak() // fetched but not started: let another replica have it now
			continue
		}
		c.process(ctx, msg)
	}
}

func (c *Consumer) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

func (c *Consumer) process(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil { // not a JetStream message; cannot happen on a pull consumer
		c.log.Error("message without metadata", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	m := Message{
		Subject:    msg.Subject(),
		Data:       msg.Data(),
		Headers:    make(map[string]string, len(msg.Headers())),
		Deliveries: int(md.NumDelivered),
		Stream:     md.Stream,
		Sequence:   md.Sequence.Stream,
		Time:       md.Timestamp,
	}
	for k, v := range msg.Headers() {
		if len(v) > 0 {
			m.Headers[k] = v[0]
		}
	}
	m.ID = m.Headers[jetstream.MsgIDHeader]
	if m.ID == "" {
		m.ID = md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	m.Type = m.Headers[HeaderEventType]

	ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(m.Headers))
	ctx, span := c.tracer.Start(ctx, "process "+m.Subject, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", m.Subject),
			attribute.String("messaging.consumer.group.name", c.opts.Durable),
			attribute.String("messaging.message.id", m.ID),
			attribute.Int("messaging.message.delivery_count", m.Deliveries),
		))
	defer span.End()
	log := c.log.With("subject", m.Subject, "event_id", m.ID, "delivery", m.Deliveries)

	// Deliveries past the limit mean earlier ones ended without an answer
	// (the process died or AckWait passed): do not risk another crash.
	if m.Deliveries > c.opts.MaxDeliver {
		var done bool
		err := c.pool.QueryRow(ctx, c.seenQ, c.opts.Durable, m.ID).Scan(&done)
		if err == nil && done { // handled; only the acks were lost
			_ = msg.Ack()
			return
		}
		c.deadLetter(ctx, log, msg, m, fmt.Errorf("gave up after %d deliveries without a successful ack (attempts failed, crashed or exceeded AckWait)", m.Deliveries-1))
		return
	}
	var bo backoff
	for {
		dup, err := c.apply(ctx, m)
		switch {
		case err == nil:
			span.SetAttributes(attribute.Bool("botstate.duplicate", dup))
			if err := msg.Ack(); err != nil {
				// Handled and committed; a redelivery will be recognised.
				log.Warn("ack failed", "err", err)
			}
			return
		case ctx.Err() != nil: // forced stop
			_ = msg.Nak()
			return
		case c.pool.Ping(ctx) != nil:
			// Postgres is down, not the handler wrong. Retrying here keeps
			// the message (InProgress holds off redelivery) instead of
			// spending its deliveries towards the dead-letter queue, and
			// pauses this consumer until Postgres answers again.
			d := min(bo.next(), c.opts.AckWait/2)
			log.Error("postgres unavailable; holding message", "err", err, "retry_in", d)
			_ = msg.InProgress()
			if !sleep(ctx, c.stop, d) {
				_ = msg.Nak()
				return
			}
			continue
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		if m.Deliveries >= c.opts.MaxDeliver {
			c.deadLetter(ctx, log, msg, m, err)
			return
		}
		delay := c.opts.Backoff[min(m.Deliveries, len(c.opts.Backoff))-1]
		log.Warn("handler failed; will retry", "err", err, "retry_in", delay)
		if err := msg.NakWithDelay(delay); err != nil {
			log.Warn("nak failed; redelivery after AckWait", "err", err)
		}
		return
	}
}

// apply runs the handler in a transaction that first claims the event id in
// processed_events. A concurrent delivery of the same event waits on that
// row and then finds it taken, so the handler's effect commits once.
func (c *Consumer) apply(ctx context.Context, m Message) (dup bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.AckWait)
	defer cancel()
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, c.markQ, c.opts.Durable, m.ID)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return true, nil
	}
	if err := c.call(ctx, tx, m); err != nil {
		return false, err
	}
	return false, tx.Commit(ctx)
}

// call runs the handler, turning a panic into an error so one bad event
// cannot take the process down.
func (c *Consumer) call(ctx context.Context, tx pgx.Tx, m Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return c.opts.Handler(ctx, tx, m)
}

// deadLetter copies the message to bot.dlq.<durable> and terminates it. The
// copy's Msg-Id makes a repeat (crash before Term) a no-op in BOT_DLQ. If the
// copy cannot be stored the message is put back for later, never dropped.
func (c *Consumer) deadLetter(ctx context.Context, log *slog.Logger, msg jetstream.Msg, m Message, cause error) {
	h := make(nats.Header, len(m.Headers)+7)
	for k, v := range msg.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = v
		}
	}
	h.Set(HeaderDLQSubject, m.Subject)
	h.Set(HeaderDLQEventID, m.ID)
	h.Set(HeaderDLQError, headerValue(cause.Error()))
	h.Set(HeaderDLQDeliveries, strconv.Itoa(m.Deliveries))
	h.Set(HeaderDLQStream, m.Stream)
	h.Set(HeaderDLQSequence, strconv.FormatUint(m.Sequence, 10))
	h.Set(HeaderDLQConsumer, c.opts.Durable)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.js.PublishMsg(pctx, &nats.Msg{Subject: dlqSubjectPrefix + c.opts.Durable, Data: m.Data, Header: h},
		jetstream.WithMsgID(c.opts.Durable+":"+m.ID))
	if err != nil {
		delay := c.opts.Backoff[len(c.opts.Backoff)-1]
		log.Error("dead-letter publish failed; will retry", "err", err, "cause", cause, "retry_in", delay)
		_ = msg.NakWithDelay(delay)
		return
	}
	log.Error("event dead-lettered", "err", cause, "dlq", dlqSubjectPrefix+c.opts.Durable)
	if err := msg.TermWithReason("dead-lettered"); err != nil {
		log.Warn("term failed", "err", err) // redelivered, then deduplicated in BOT_DLQ
	}
}

// headerValue fits text into a header: one line, bounded.
func headerValue(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if len(s) > 1024 {
		s = s[:1024] + "…"
	}
	return s
}
