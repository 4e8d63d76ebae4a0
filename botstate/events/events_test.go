package events_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

func TestMain(m *testing.M) {
	// What telemetry.Setup installs, minus the exporter: real span ids.
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

// env is one test's world: service "chat" produces into chat.outbox and
// stream BOT_CHAT; service "tasks" consumes, recording effects in its schema.
type env struct {
	t    testing.TB
	ctx  context.Context
	pool *pgxpool.Pool
	bus  *events.Bus
	js   jetstream.JetStream
	log  *slog.Logger
}

func newEnv(t testing.TB, stream events.StreamOptions) *env {
	t.Helper()
	ctx := context.Background()
	pool, url := testutil.NewPool(t)
	for _, s := range []string{"chat", "tasks"} {
		if _, err := pg.Migrate(ctx, url, pg.Schema{Name: s}); err != nil {
			t.Fatal(err)
		}
	}
	// No unique key on purpose: a duplicate effect must be visible.
	if _, err := pool.Exec(ctx, `CREATE TABLE tasks.effects (event_id text NOT NULL, at timestamptz DEFAULT clock_timestamp())`); err != nil {
		t.Fatal(err)
	}
	bus := testutil.NewNATS(t)
	if _, err := events.EnsureStream(ctx, bus.JS, "chat", stream); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, pool: pool, bus: bus, js: bus.JS, log: testLog()}
}

func testLog() *slog.Logger {
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// write commits n events in one transaction and returns their ids.
func (e *env) write(n int) []uuid.UUID {
	e.t.Helper()
	var ids []uuid.UUID
	err := pg.InTx(e.ctx, e.pool, func(tx pgx.Tx) error {
		for i := 0; i < n; i++ {
			id, err := events.Write(e.ctx, tx, "chat", events.Event{
				Subject: "bot.chat.message.created",
				Payload: wrapperspb.String(fmt.Sprintf("m%d", i)),
			})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func (e *env) relay(opts events.RelayOptions) *events.Relay {
	e.t.Helper()
	if opts.Log == nil {
		opts.Log = e.log
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	r, err := events.NewRelay(e.pool, e.js, "chat", opts)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

// consume starts tasks_on_chat; with a nil handler it records each event in
// tasks.effects.
func (e *env) consume(opts events.ConsumerOptions) *events.Consumer {
	e.t.Helper()
	opts.Stream = events.StreamName("chat")
	if opts.Durable == "" {
		opts.Durable = "tasks_on_chat"
	}
	opts.Schema = "tasks"
	if opts.Handler == nil {
		opts.Handler = recordEffect
	}
	if opts.Log == nil {
		opts.Log = e.log
	}
	c, err := events.Consume(e.ctx, e.js, e.pool, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func recordEffect(ctx context.Context, tx pgx.Tx, m events.Message) error {
	_, err := tx.Exec(ctx, `INSERT INTO tasks.effects (event_id) VALUES ($1)`, m.ID)
	return err
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) streamMsgs(name string) uint64 {
	e.t.Helper()
	s, err := e.js.Stream(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// consumerIdle: everything in the stream was delivered and answered.
func (e *env) consumerIdle(durable string) bool {
	e.t.Helper()
	c, err := e.js.Consumer(e.ctx, events.StreamName("chat"), durable)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := c.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.NumPending == 0 && info.NumAckPending == 0 &&
		info.AckFloor.Stream == info.Delivered.Stream
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRolledBackWriteIsNotPublishedCommittedOneIsDelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, events.StreamOptions{})
	ctx := e.ctx

	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Write(ctx, tx, "chat", events.Event{Subject: "bot.chat.message.deleted", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx)

	var id uuid.UUID
	err = pg.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		id, err = events.Write(ctx, tx, "chat", events.Event{
			Subject: "bot.chat.message.created",
			Payload: wrapperspb.String("hello"),
			Headers: map[string]string{"Bot-Org": "org-1"},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan events.Message, 10)
	e.consume(events.ConsumerOptions{Handler: func(_ context.Context, _ pgx.Tx, m events.Message) error {
		got <- m
		return nil
	}})
	e.relay(events.RelayOptions{})

	var m events.Message
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("event not delivered")
	}
	var payload wrapperspb.StringValue
	if err := m.Decode(&payload); err != nil {
		t.Fatal(err)
	}
	if m.ID != id.String() || m.Subject != "bot.chat.message.created" || m.Type != "google.protobuf.StringValue" ||
		payload.Value != "hello" || m.Headers["Bot-Org"] != "org-1" || m.Deliveries != 1 || m.Stream != "BOT_CHAT" {
		t.Fatalf("delivered %+v (payload %q), want id %s", m, payload.Value, id)
	}
	if err := m.Decode(&wrapperspb.Int64Value{}); err == nil {
		t.Fatal("Decode into the wrong type succeeded")
	}
	waitFor(t, 5*time.Second, "outbox marked published", func() bool {
		return e.count(`SELECT count(*) FROM chat.outbox WHERE published_at IS NOT NULL`) == 1
	})
	if n := e.count(`SELECT count(*) FROM chat.outbox`); n != 1 {
		t.Fatalf("outbox has %d rows; the rolled-back write left one behind", n)
	}
	if n := e.streamMsgs("BOT_CHAT"); n != 1 {
		t.Fatalf("stream has %d messages, want 1", n)
	}
	select {
	case m := <-got:
		t.Fatalf("unexpected second delivery %+v", m)
	default:
	}

	// Other processes reach the embedded server by its URL.
	nc, err := nats.Connect(e.bus.URL)
	if err != nil {
		t.Fatalf("embedded server URL %s: %v", e.bus.URL, err)
	}
	nc.Close()
}

// The relay dies after JetStream acked a batch but before marking it, and a
// second relay sends the same rows again. Within the duplicate window
// JetStream drops the copies; past it they reach the consumer, whose
// processed_events absorbs them. Either way each effect happens once.
func TestExactlyOnceEffectWhenRelayDiesBetweenPublishAndMark(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		window    time.Duration
		wantMsgs  uint64 // stream messages per event
		waitAfter time.Duration
	}{
		{"within duplicate window", 2 * time.Minute, 1, 0},
		{"after duplicate window", 100 * time.Millisecond, 2, 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 20
			e := newEnv(t, events.StreamOptions{Duplicates: tc.window})
			e.consume(events.ConsumerOptions{})
			ids := e.write(n)

			died := make(chan struct{})
			var opts events.RelayOptions
			events.SetAfterPublish(&opts, func() error { close(died); return errors.New("kill -9") })
			r1 := e.relay(opts)
			<-died
			if err := r1.Stop(e.ctx); err != nil {
				t.Fatal(err)
			}
			if got := e.count(`SELECT count(*) FROM chat.outbox WHERE published_at IS NULL`); got != n {
				t.Fatalf("%d rows unpublished after the crash, want %d", got, n)
			}
			waitFor(t, 5*time.Second, "first copies in the stream", func() bool { return e.streamMsgs("BOT_CHAT") == n })
			// Setup, not an assertion: let the dedupe window lapse (the server
			// purges it on a timer), so relay 2's copies are stored again.
			time.Sleep(tc.waitAfter)

			r2 := e.relay(events.RelayOptions{})
			// Published counts after the commit, so wait for both.
			waitFor(t, 10*time.Second, "relay 2 marks every row", func() bool {
				return e.count(`SELECT count(*) FROM chat.outbox WHERE published_at IS NULL`) == 0 && r2.Published() >= n
			})
			if r2.Published() != n {
				t.Fatalf("relay 2 published %d, want %d", r2.Published(), n)
			}
			want := tc.wantMsgs * n
			if got := e.streamMsgs("BOT_CHAT"); got != want {
				t.Fatalf("stream has %d messages, want %d", got, want)
			}
			waitFor(t, 10*time.Second, "consumer done", func() bool { return e.consumerIdle("tasks_on_chat") })
			for _, id := range ids {
				if c := e.count(`SELECT count(*) FROM tasks.effects WHERE event_id = $1`, id.String()); c != 1 {
					t.Fatalf("event %s took effect %d times", id, c)
				}
			}
			if c := e.count(`SELECT count(*) FROM tasks.effects`); c != n {
				t.Fatalf("%d effects, want %d", c, n)
			}
			if c := e.count(`SELECT count(*) FROM tasks.processed_events WHERE consumer = 'tasks_on_chat'`); c != n {
				t.Fatalf("%d processed ids, want %d", c, n)
			}
		})
	}
}

func TestFailingHandlerIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, events.StreamOptions{})
	var (
		mu         sync.Mutex
		attempts   []time.Time
		deliveries []int
	)
	e.consume(events.ConsumerOptions{
		Backoff: []time.Duration{100 * time.Millisecond, 250 * time.Millisecond},
		Handler: func(ctx context.Context, tx pgx.Tx, m events.Message) error {
			mu.Lock()
			attempts = append(attempts, time.Now())
			deliveries = append(deliveries, m.Deliveries)
			n := len(attempts)
			mu.Unlock()
			// The effect is written every time; only the last commits.
			if err := recordEffect(ctx, tx, m); err != nil {
				return err
			}
			if n < 3 {
				return fmt.Errorf("transient failure %d", n)
			}
			return nil
		},
	})
	e.relay(events.RelayOptions{})
	e.write(1)
	waitFor(t, 10*time.Second, "third attempt acked", func() bool {
		return e.count(`SELECT count(*) FROM tasks.effects`) == 1 && e.consumerIdle("tasks_on_chat")
	})
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 3 || fmt.Sprint(deliveries) != "[1 2 3]" {
		t.Fatalf("attempts %d, deliveries %v; want 3, [1 2 3]", len(attempts), deliveries)
	}
	if d := attempts[1].Sub(attempts[0]); d < 100*time.Millisecond {
		t.Fatalf("second attempt after %s, want ≥ 100ms", d)
	}
	if d := attempts[2].Sub(attempts[1]); d < 250*time.Millisecond {
		t.Fatalf("third attempt after %s, want ≥ 250ms", d)
	}
}

func TestAlwaysFailingEventGoesToDeadLetterOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, events.StreamOptions{})
	var attempts atomic.Int32
	e.consume(events.ConsumerOptions{
		MaxDeliver: 3,
		Backoff:    []time.Duration{20 * time.Millisecond},
		Handler: func(ctx context.Context, tx pgx.Tx, m events.Message) error {
			switch attempts.Add(1) {
			case 1:
				return errors.New("boom")
			case 2:
				panic("handler bug") // recovered and counted as a failure
			default:
				return errors.New("boom 3\nsecond line")
			}
		},
	})
	e.relay(events.RelayOptions{})
	id := e.write(1)[0]

	dlq, err := e.js.OrderedConsumer(e.ctx, events.DLQStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"bot.dlq.tasks_on_chat"},
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := dlq.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	h := msg.Headers()
	want := map[string]string{
		events.HeaderDLQSubject:    "bot.chat.message.created",
		events.HeaderDLQEventID:    id.String(),
		events.HeaderDLQError:      "boom 3 second line",
		events.HeaderDLQDeliveries: "3",
		events.HeaderDLQStream:     "BOT_CHAT",
		events.HeaderDLQConsumer:   "tasks_on_chat",
		events.HeaderEventType:     "google.protobuf.StringValue",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("dead letter header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	var p wrapperspb.StringValue
	if err := (events.Message{Data: msg.Data()}).Decode(&p); err != nil || p.Value != "m0" {
		t.Errorf("dead letter payload %q, %v", p.Value, err)
	}
	// Terminated: nothing pending or awaiting ack, so never delivered again.
	waitFor(t, 5*time.Second, "consumer idle", func() bool { return e.consumerIdle("tasks_on_chat") })
	if n := attempts.Load(); n != 3 {
		t.Fatalf("handler ran %d times, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM tasks.processed_events`); n != 0 {
		t.Fatalf("failed event recorded as processed (%d rows)", n)
	}
}

func TestTwoRelaysShareOneOutbox(t *testing.T) {
	t.Parallel()
	const total = 1000
	e := newEnv(t, events.StreamOptions{})
	e.consume(events.ConsumerOptions{MaxAckPending: 2000, Prefetch: 256})
	// Half written before the relays start, half while they run.
	for i := 0; i < 5; i++ {
		e.write(total / 10)
	}
	var rs []*events.Relay
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.relay(events.RelayOptions{BatchSize: 25})
			mu.Lock()
			rs = append(rs, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := 0; i < 5; i++ {
		e.write(total / 10)
	}
	waitFor(t, 15*time.Second, "all rows published", func() bool {
		return e.count(`SELECT count(*) FROM chat.outbox WHERE published_at IS NULL`) == 0
	})
	waitFor(t, 15*time.Second, "consumer done", func() bool {
		return e.count(`SELECT count(*) FROM tasks.effects`) == total && e.consumerIdle("tasks_on_chat")
	})
	if n := e.streamMsgs("BOT_CHAT"); n != total {
		t.Fatalf("stream has %d messages, want %d (a row was published twice)", n, total)
	}
	if n := e.count(`SELECT count(*) FROM (SELECT event_id FROM tasks.effects GROUP BY event_id HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d events took effect more than once", n)
	}
	waitFor(t, 5*time.Second, "relay counters", func() bool { return rs[0].Published()+rs[1].Published() >= total })
	p0, p1 := rs[0].Published(), rs[1].Published()
	if p0+p1 != total {
		t.Fatalf("relays marked %d + %d, want %d", p0, p1, total)
	}
	t.Logf("relay split: %d / %d", p0, p1)
}

func TestTraceContextReachesHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, events.StreamOptions{})
	seen := make(chan trace.SpanContext, 1)
	e.consume(events.ConsumerOptions{Handler: func(ctx context.Context, _ pgx.Tx, _ events.Message) error {
		seen <- trace.SpanContextFromContext(ctx)
		return nil
	}})
	e.relay(events.RelayOptions{})

	ctx, span := otel.Tracer("test").Start(e.ctx, "create message")
	err := pg.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		_, err := events.Write(ctx, tx, "chat", events.Event{Subject: "bot.chat.message.created", Data: []byte("{}")})
		return err
	})
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case sc := <-seen:
		want := span.SpanContext()
		if !want.IsValid() || sc.TraceID() != want.TraceID() {
			t.Fatalf("handler trace %s, want %s", sc.TraceID(), want.TraceID())
		}
		if sc.SpanID() == want.SpanID() {
			t.Fatal("handler runs in the producer's span, want a child consumer span")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event not delivered")
	}
}

// The relay keeps retrying, with back-off, while it cannot publish; the rows
// go out once the stream exists.
func TestRelayRetriesUntilStreamExists(t *testing.T) {
	t.Parallel()
	e := newEnv(t, events.StreamOptions{})
	if err := e.js.DeleteStream(e.ctx, "BOT_CHAT"); err != nil {
		t.Fatal(err)
	}
	e.write(3)
	r := e.relay(events.RelayOptions{PublishTimeout: 500 * time.Millisecond})
	time.Sleep(300 * time.Millisecond) // setup: let a few rounds fail
	if r.Published() != 0 {
		t.Fatalf("published %d events without a stream", r.Published())
	}
	if _, err := events.EnsureStream(e.ctx, e.js, "chat"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "rows published after the stream appeared", func() bool {
		return e.count(`SELECT count(*) FROM chat.outbox WHERE published_at IS NULL`) == 0
	})
	if n := e.streamMsgs("BOT_CHAT"); n != 3 {
		t.Fatalf("stream has %d messages, want 3", n)
	}
}

func TestRelayDeletesOldPublishedRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, events.StreamOptions{})
	e.write(2)
	// Make one row two days old (ids encode their time, as Write makes them).
	old := uuid.Must(uuid.NewV7())
	old[0], old[1] = 0x01, 0x00 // 2004 or so
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO chat.outbox (id, subject, payload, published_at) VALUES ($1, 'bot.chat.x.y', '', now())`, old); err != nil {
		t.Fatal(err)
	}
	e.relay(events.RelayOptions{Retention: time.Hour})
	waitFor(t, 10*time.Second, "old row deleted, new rows published and kept", func() bool {
		return e.count(`SELECT count(*) FROM chat.outbox`) == 2 &&
			e.count(`SELECT count(*) FROM chat.outbox WHERE published_at IS NULL`) == 0
	})
}

func TestWriteRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		schema string
		ev     events.Event
		want   string
	}{
		{"chat", events.Event{Subject: ""}, "bot."},
		{"chat", events.Event{Subject: "chat.message.created"}, "bot."},
		{"chat", events.Event{Subject: "bot.chat.*.created"}, "wildcard"},
		{"chat", events.Event{Subject: "bot.chat.>"}, "wildcard"},
		{"chat", events.Event{Subject: "bot.chat..created"}, "empty"},
		{"chat", events.Event{Subject: "bot.chat.message created"}, "white"},
		{"chat", events.Event{Subject: "bot.dlq.x_y"}, "reserved"},
		{"chat", events.Event{Subject: "bot.chat.a.b", Headers: map[string]string{"Nats-Msg-Id": "1"}}, "reserved"},
		{"chat", events.Event{Subject: "bot.chat.a.b", Payload: wrapperspb.String("x"), Data: []byte("y")}, "not both"},
		{"chat", events.Event{Subject: "bot.chat.a.b", Data: make([]byte, events.MaxPayload+1)}, "limit"},
		{"Chat; drop", events.Event{Subject: "bot.chat.a.b"}, "schema"},
	} {
		// Validation happens before the transaction is touched.
		_, err := events.Write(ctx, nil, tc.schema, tc.ev)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Write(%q, %q) = %v, want error containing %q", tc.schema, tc.ev.Subject, err, tc.want)
		}
	}
	if _, err := events.NewConsumer(nil, nil, events.ConsumerOptions{Stream: "BOT_CHAT", Durable: "tasks", Schema: "tasks",
		Handler: recordEffect}); err == nil {
		t.Error("durable without _purpose accepted")
	}
	if _, err := events.EnsureStream(ctx, nil, "dlq"); err == nil {
		t.Error("service named dlq accepted")
	}
}

// Against the machine's NATS (NATS_URL), with a stream of its own.
func TestExternalNATS(t *testing.T) {
	t.Parallel()
	bus := testutil.ExternalNATS(t)
	ctx := context.Background()
	var b [4]byte
	_, _ = rand.Read(b[:])
	svc := "t" + hex.EncodeToString(b[:])
	stream := events.StreamName(svc)
	if _, err := events.EnsureStream(ctx, bus.JS, svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.JS.DeleteStream(context.Background(), stream) })

	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: "chat"}); err != nil {
		t.Fatal(err)
	}
	subject := "bot." + svc + ".thing.happened"
	var id uuid.UUID
	err := pg.InTx(ctx, pool, func(tx pgx.Tx) error {
		var err error
		id, err = events.Write(ctx, tx, "chat", events.Event{Subject: subject, Data: []byte("hi")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan events.Message, 1)
	c, err := events.Consume(ctx, bus.JS, pool, events.ConsumerOptions{
		Stream: stream, Durable: "chat_on_" + svc, Schema: "chat", Log: testLog(),
		Handler: func(_ context.Context, _ pgx.Tx, m events.Message) error { got <- m; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	r, err := events.NewRelay(pool, bus.JS, "chat", events.RelayOptions{Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx)
	select {
	case m := <-got:
		if m.ID != id.String() || string(m.Data) != "hi" {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event not delivered through NATS_URL")
	}
}

func TestConsumerStopFinishesInFlightHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, events.StreamOptions{})
	entered, release := make(chan struct{}), make(chan struct{})
	c := e.consume(events.ConsumerOptions{Handler: func(ctx context.Context, tx pgx.Tx, m events.Message) error {
		close(entered)
		<-release
		return recordEffect(ctx, tx, m)
	}})
	e.relay(events.RelayOptions{})
	e.write(1)
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // setup: let Stop begin waiting
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a handler was running", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM tasks.effects`); n != 1 {
		t.Fatalf("in-flight event committed %d times, want 1", n)
	}
	if !e.consumerIdle("tasks_on_chat") {
		t.Fatal("in-flight event not acked before Stop returned")
	}
}

func TestConsumerStopHonoursDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, events.StreamOptions{})
	entered, cancelled := make(chan struct{}), make(chan struct{})
	c := e.consume(events.ConsumerOptions{Handler: func(ctx context.Context, tx pgx.Tx, m events.Message) error {
		close(entered)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}})
	e.relay(events.RelayOptions{})
	e.write(1)
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want deadline exceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not cancelled at the deadline")
	}
	if n := e.count(`SELECT count(*) FROM tasks.processed_events`); n != 0 {
		t.Fatal("abandoned event recorded as processed")
	}
}

// A consumer whose durable disappears (deleted by an operator, lost with a
// server) recreates it; the stream is replayed from the start and
// processed_events keeps the old events from taking effect again.
func TestConsumerRecoversFromDeletedDurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, events.StreamOptions{})
	e.consume(events.ConsumerOptions{})
	e.relay(events.RelayOptions{})
	first := e.write(1)[0]
	waitFor(t, 10*time.Second, "first event handled", func() bool {
		return e.count(`SELECT count(*) FROM tasks.effects`) == 1
	})
	if err := e.js.DeleteConsumer(e.ctx, "BOT_CHAT", "tasks_on_chat"); err != nil {
		t.Fatal(err)
	}
	second := e.write(1)[0]
	waitFor(t, 15*time.Second, "second event handled after the durable came back", func() bool {
		return e.count(`SELECT count(*) FROM tasks.effects WHERE event_id = $1`, second.String()) == 1
	})
	waitFor(t, 10*time.Second, "replay finished", func() bool { return e.consumerIdle("tasks_on_chat") })
	if n := e.count(`SELECT count(*) FROM tasks.effects WHERE event_id = $1`, first.String()); n != 1 {
		t.Fatalf("replayed event took effect %d times", n)
	}
}
