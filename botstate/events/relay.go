package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/botserver-go/botserver-go/botstate/pg"
)

// RelayOptions tune a Relay; the zero value is the production default.
type RelayOptions struct {
	BatchSize       int           // rows per transaction; default 256
	PollInterval    time.Duration // fallback when a notification is missed; default 1s
	PublishTimeout  time.Duration // wait for a batch's acks; default 10s
	Retention       time.Duration // keep published rows this long; default 24h
	CleanupInterval time.Duration // how often to delete old rows; default 5m
	Log             *slog.Logger

	// afterPublish runs once a batch is acked and before it is marked; a
	// non-nil error makes the relay "die" there. Set only by tests.
	afterPublish func() error
}

// Relay publishes a schema's outbox to JetStream. Run one per schema in every
// replica: rows are claimed with FOR UPDATE SKIP LOCKED, so replicas split the
// work and never publish a row concurrently.
type Relay struct {
	pool   *pgxpool.Pool
	js     jetstream.JetStream
	schema string
	opts   RelayOptions
	log    *slog.Logger

	selectQ, markQ, cleanupQ string

	wake      chan struct{} // buffered 1: a pending "there may be work"
	stop      chan struct{} // closed by Stop: finish the current round, then exit
	unlisten  context.CancelFunc
	kill      context.CancelFunc // abandons the current round
	listening sync.WaitGroup
	working   sync.WaitGroup
	listener  *pgx.Conn // the first LISTEN connection, made in Start
	stopOnce  sync.Once
	published atomic.Int64
}

// errDied is returned by a round when the test seam simulated a crash.
var errDied = errors.New("events: relay died (test)")

// NewRelay returns a relay for <schema>.outbox. Start runs it.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, schema string, opts RelayOptions) (*Relay, error) {
	if err := checkSchema(schema); err != nil {
		return nil, err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 10 * time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = 24 * time.Hour
	}
	if opts.CleanupInterval <= 0 {
		opts.CleanupInterval = 5 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	t := pg.Ident(schema) + ".outbox"
	return &Relay{
		pool: pool, js: js, schema: schema, opts: opts,
		log: opts.Log.With("relay", schema),
		selectQ: `SELECT id, subject, payload, headers FROM ` + t + `
			WHERE published_at IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
		markQ: `UPDATE ` + t + ` SET published_at = now() WHERE id = ANY($1)`,
		// The primary key is a UUIDv7, so "id < cutoff" is an index range
		// scan over old rows; there is no index on published_at to use.
		cleanupQ: `DELETE FROM ` + t + ` WHERE id IN (
			SELECT id FROM ` + t + ` WHERE id < $1 AND published_at IS NOT NULL LIMIT 5000)`,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
	}, nil
}

// Start checks the outbox exists, starts listening for notifications and
// returns; publishing runs in the background until Stop.
func (r *Relay) Start(ctx context.Context) error {
	if _, err := r.pool.Exec(ctx, `SELECT 1 FROM `+pg.Ident(r.schema)+`.outbox LIMIT 0`); err != nil {
		return fmt.Errorf("events: relay %s: %w", r.schema, err)
	}
	conn, err := r.listen(ctx)
	if err != nil {
		return fmt.Errorf("events: relay %s: %w", r.schema, err)
	}
	r.listener = conn
	// Work outlives ctx (lifecycle passes a start context); Stop ends it.
	workCtx, kill := context.WithCancel(context.WithoutCancel(ctx))
	listenCtx, unlisten := context.WithCancel(workCtx)
	r.kill, r.unlisten = kill, unlisten
	r.listening.Add(1)
	go r.listenLoop(listenCtx)
	r.working.Add(1)
	go r.publishLoop(workCtx)
	return nil
}

// Stop lets the current round finish and returns. If ctx ends first, the
// round is abandoned: its rows stay unpublished (or get published again,
// which the Msg-Id dedupe and consumers absorb).
func (r *Relay) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stop) })
	if r.kill == nil {
		return nil // never started
	}
	r.unlisten()
	r.listening.Wait()
	done := make(chan struct{})
	go func() { r.working.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	r.kill()
	<-done // every wait in publishLoop honours the work context
	return err
}

func (r *Relay) listen(ctx context.Context) (*pgx.Conn, error) {
	// A connection of its own: LISTEN holds it for the relay's lifetime and
	// must not take a slot in the pool.
	conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pg.Ident(notifyChannel(r.schema))); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (r *Relay) listenLoop(ctx context.Context) {
	defer r.listening.Done()
	conn := r.listener
	var bo backoff
	for {
		if conn == nil {
			var err error
			if conn, err = r.listen(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				d := bo.next()
				r.log.Warn("outbox listen failed; polling meanwhile", "err", err, "retry_in", d)
				if !sleep(ctx, nil, d) {
					return
				}
				continue
			}
			r.poke() // notifications sent while we were not listening are lost
		}
		_, err := conn.WaitForNotification(ctx)
		if err != nil {
			conn.Close(context.Background())
			conn = nil
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("outbox listen connection lost", "err", err)
			if !sleep(ctx, nil, bo.next()) {
				return
			}
			continue
		}
		bo.reset() // a working connection: the next loss starts from a short wait
		r.poke()
	}
}

func (r *Relay) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Relay) publishLoop(ctx context.Context) {
	defer r.working.Done()
	poll := time.NewTicker(r.opts.PollInterval)
	defer poll.Stop()
	var bo backoff
	nextCleanup := time.Now()
	for {
		n, err := r.round(ctx)
		switch {
		case errors.Is(err, errDied):
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			d := bo.next()
			r.log.Error("outbox publish failed; retrying", "err", err, "retry_in", d)
			if !sleep(ctx, r.stop, d) {
				return
			}
			continue
		}
		bo.reset()
		if time.Now().After(nextCleanup) {
			if err := r.cleanup(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("outbox cleanup failed", "err", err)
			}
			nextCleanup = time.Now().Add(r.opts.CleanupInterval)
		}
		if n == r.opts.BatchSize { // probably more waiting
			select {
			case <-r.stop:
				return
			default:
				continue
			}
		}
		select {
		case <-r.stop:
			return
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-poll.C:
		}
	}
}

type outboxRow struct {
	id      uuid.UUID
	subject string
	payload []byte
	headers map[string]string
}

// round publishes one batch: claim rows, publish them all, wait for every
// ack, then mark the acked ones in the same transaction. A crash anywhere
// before the commit leaves the rows unpublished, to be sent again.
func (r *Relay) round(ctx context.Context) (int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, r.selectQ, r.opts.BatchSize)
	if err != nil {
		return 0, err
	}
	var batch []outboxRow
	for rows.Next() {
		var o outboxRow
		if err := rows.Scan(&o.id, &o.subject, &o.payload, &o.headers); err != nil {
			rows.Close()
			return 0, err
		}
		batch = append(batch, o)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, nil
	}
	acked, pubErr := r.publish(ctx, batch)
	if r.opts.afterPublish != nil {
		if err := r.opts.afterPublish(); err != nil {
			return 0, errDied
		}
	}
	if len(acked) > 0 {
		if _, err := tx.Exec(ctx, r.markQ, acked); err != nil {
			return 0, err
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, err
		}
		r.published.Add(int64(len(acked)))
	}
	return len(batch), pubErr
}

// publish sends the batch asynchronously (one round trip for all of it, in
// order on one connection) and returns the ids JetStream acknowledged,
// duplicates included: a duplicate ack means the stream already has it.
func (r *Relay) publish(ctx context.Context, batch []outboxRow) ([]uuid.UUID, error) {
	futures := make([]jetstream.PubAckFuture, len(batch))
	var errs []error
	for i, o := range batch {
		h := make(nats.Header, len(o.headers)+1)
		for k, v := range o.headers {
			h[k] = []string{v}
		}
		f, err := r.js.PublishMsgAsync(&nats.Msg{Subject: o.subject, Data: o.payload, Header: h},
			jetstream.WithMsgID(o.id.String()))
		if err != nil {
			errs = append(errs, fmt.Errorf("publish %s %s: %w", o.subject, o.id, err))
			continue
		}
		futures[i] = f
	}
	timeout := time.NewTimer(r.opts.PublishTimeout)
	defer timeout.Stop()
	acked := make([]uuid.UUID, 0, len(batch))
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
			acked = append(acked, batch[i].id)
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("publish %s %s: %w", batch[i].subject, batch[i].id, err))
		case <-timeout.C:
			return acked, errors.Join(append(errs, fmt.Errorf("no ack for %d events within %s", len(futures)-i, r.opts.PublishTimeout))...)
		case <-ctx.Done():
			return acked, ctx.Err()
		}
	}
	return acked, errors.Join(errs...)
}

// cleanup deletes rows published before the retention period, in chunks so
// no statement holds many locks or runs long.
func (r *Relay) cleanup(ctx context.Context) error {
	cutoff := uuidV7Floor(time.Now().Add(-r.opts.Retention))
	for {
		tag, err := r.pool.Exec(ctx, r.cleanupQ, cutoff)
		if err != nil {
			return err
		}
		if tag.RowsAffected() < 5000 {
			return nil
		}
	}
}

// uuidV7Floor is the smallest UUIDv7 of instant t: every id Write made at or
// after t sorts above it.
func uuidV7Floor(t time.Time) uuid.UUID {
	var u uuid.UUID
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70
	return u
}
