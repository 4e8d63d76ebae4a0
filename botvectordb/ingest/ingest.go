// Package ingest turns botdrive's file events into indexed knowledge.
//
// The event handler only records what must be done: it upserts the
// document as queued (or deletes it) in the same transaction that marks the
// event processed, so the hand-off is exactly once. Workers then claim
// queued documents from Postgres (FOR UPDATE SKIP LOCKED, any replica),
// moving them through extracting → embedding → indexed with each step
// committed and visible, or back to queued with a back-off, or to failed
// with the reason once attempts run out. A claimed document holds a lease;
// the sweeper takes back leases that expire (a worker died), so nothing
// stays in progress, or queued, forever.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botvectordb/chunk"
	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/store"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

// Subjects of botdrive's events this package consumes.
const (
	SubjectFileChanged = "bot.drive.file.changed"
	SubjectFileDeleted = "bot.drive.file.deleted"
	// Durable is the consumer's name on BOT_DRIVE.
	Durable = "vectordb_ingest"
	// notifyChannel wakes workers when a document is queued.
	notifyChannel = "kb_ingest"
	schema        = "kb"
)

// Options configure an Ingester.
type Options struct {
	Pool      *pgxpool.Pool
	Index     index.Backend
	Embedder  embed.Embedder
	Extractor Extractor
	Chunk     chunk.Options

	Workers       int           // documents processed at once per process; default 2
	MaxAttempts   int           // attempts before a document fails; default 3
	Lease         time.Duration // how long one attempt may take; default 10m
	RetryBackoff  time.Duration // delay after the first failed attempt, x4 each time; default 10s
	PollInterval  time.Duration // how often idle workers look for work; default 2s
	SweepInterval time.Duration // how often expired leases are taken back; default 30s
	EmbedBatch    int           // chunks per Embed call; default 256
	Log           *slog.Logger
}

// Ingester handles drive events and runs the workers.
type Ingester struct {
	o    Options
	log  *slog.Logger
	wake chan struct{}

	stop chan struct{}
	wg   sync.WaitGroup
}

// New checks options and fills defaults.
func New(o Options) (*Ingester, error) {
	if o.Pool == nil || o.Index == nil || o.Embedder == nil || o.Extractor == nil {
		return nil, errors.New("ingest: Pool, Index, Embedder and Extractor are required")
	}
	if err := o.Chunk.Check(); err != nil {
		return nil, err
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Workers, 2)
	def(&o.MaxAttempts, 3)
	def(&o.EmbedBatch, 256)
	defd(&o.Lease, 10*time.Minute)
	defd(&o.RetryBackoff, 10*time.Second)
	defd(&o.PollInterval, 2*time.Second)
	defd(&o.SweepInterval, 30*time.Second)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Ingester{o: o, log: o.Log, wake: make(chan struct{}, 1), stop: make(chan struct{})}, nil
}

// ConsumerOptions are the durable consumer's settings on BOT_DRIVE.
func (in *Ingester) ConsumerOptions() events.ConsumerOptions {
	return events.ConsumerOptions{
		Stream:         events.StreamName("drive"),
		Durable:        Durable,
		FilterSubjects: []string{SubjectFileChanged, SubjectFileDeleted},
		Schema:         schema,
		Handler:        in.Handle,
		MaxDeliver:     5,
		Backoff:        []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute},
		Log:            in.log,
	}
}

// Handle applies one drive event inside the consumer's transaction.
func (in *Ingester) Handle(ctx context.Context, tx pgx.Tx, m events.Message) error {
	switch m.Subject {
	case SubjectFileChanged:
		var ev drivev1.FileChanged
		if err := m.Decode(&ev); err != nil {
			return err
		}
		return in.fileChanged(ctx, tx, &ev)
	case SubjectFileDeleted:
		var ev drivev1.FileDeleted
		if err := m.Decode(&ev); err != nil {
			return err
		}
		return in.fileDeleted(ctx, tx, &ev)
	}
	return nil
}

func (in *Ingester) fileChanged(ctx context.Context, tx pgx.Tx, ev *drivev1.FileChanged) error {
	kb, ok := in.relevant(ev.GetOrgId(), ev.GetBot(), ev.GetPath())
	if !ok {
		return nil
	}
	if err := store.AsOrg(ctx, tx, ev.GetOrgId()); err != nil {
		return err
	}
	c, err := store.EnsureCollection(ctx, tx, ev.GetOrgId(), ev.GetBot(), kb)
	if err != nil {
		return err
	}
	var modified *time.Time
	if ev.GetModifiedAt() != nil {
		t := ev.GetModifiedAt().AsTime()
		modified = &t
	}
	// Same content: nothing to do (whatever the document's state). Older
	// than what we have: a late event, ignored.
	tag, err := tx.Exec(ctx, `INSERT INTO kb.documents
			(org_id, collection_id, bot, kb, path, hash, size, content_type, modified_at, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued')
		ON CONFLICT (org_id, bot, path) DO UPDATE SET
			collection_id = excluded.collection_id, kb = excluded.kb, hash = excluded.hash,
			size = excluded.size, content_type = excluded.content_type, modified_at = excluded.modified_at,
			status = 'queued', error = '', attempts = 0, lease_token = NULL, lease_until = NULL,
			next_attempt_at = now(), queued_at = now(), updated_at = now()
		WHERE kb.documents.hash <> excluded.hash
			AND (kb.documents.modified_at IS NULL OR excluded.modified_at IS NULL
				OR excluded.modified_at >= kb.documents.modified_at)`,
		ev.GetOrgId(), c.ID, ev.GetBot(), kb, ev.GetPath(), strings.ToLower(ev.GetHash()), ev.GetSize(),
		ev.GetContentType(), modified)
	if err != nil {
		return err
	}
	if tag.RowsAffected() > 0 {
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel)
	}
	return err
}

func (in *Ingester) fileDeleted(ctx context.Context, tx pgx.Tx, ev *drivev1.FileDeleted) error {
	kb, ok := in.relevant(ev.GetOrgId(), ev.GetBot(), ev.GetPath())
	if !ok {
		return nil
	}
	if err := store.AsOrg(ctx, tx, ev.GetOrgId()); err != nil {
		return err
	}
	var docID, collID string
	err := tx.QueryRow(ctx, `DELETE FROM kb.documents WHERE bot = $1 AND path = $2
		RETURNING id::text, collection_id::text`, ev.GetBot(), ev.GetPath()).Scan(&docID, &collID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // never seen, or already deleted
	}
	if err != nil {
		return err
	}
	// Chunks went with the row (ON DELETE CASCADE); the vectors are the
	// backend's. Failing here rolls the delete back and the event is retried.
	c := index.Collection{ID: collID, OrgID: ev.GetOrgId(), Bot: ev.GetBot(), Name: kb}
	return in.o.Index.DeleteDocument(ctx, c, docID)
}

// relevant says whether an event concerns a knowledge base, and which.
func (in *Ingester) relevant(org, bot, path string) (string, bool) {
	if _, err := uuid.Parse(org); err != nil || store.CheckBot(bot) != nil {
		in.log.Warn("drive event with a bad org or bot; ignored", "org", org, "bot", bot)
		return "", false
	}
	return store.KBPath(bot, path)
}

// Start runs the workers, the notification listener and the sweeper.
func (in *Ingester) Start(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	ctx, cancel := context.WithCancel(ctx)
	go func() { <-in.stop; cancel() }()
	in.wg.Add(in.o.Workers + 2)
	for i := 0; i < in.o.Workers; i++ {
		go func() { defer in.wg.Done(); in.worker(ctx) }()
	}
	go func() { defer in.wg.Done(); in.listen(ctx) }()
	go func() { defer in.wg.Done(); in.sweeper(ctx) }()
	return nil
}

// Stop stops claiming work and waits for documents in hand (up to ctx; a
// document interrupted is taken back by a sweeper when its lease ends).
func (in *Ingester) Stop(ctx context.Context) error {
	select {
	case <-in.stop:
	default:
		close(in.stop)
	}
	done := make(chan struct{})
	go func() { in.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wake makes an idle worker look for work now.
func (in *Ingester) Wake() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *Ingester) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := func() error {
			conn, err := in.o.Pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
				return err
			}
			defer func() { _, _ = conn.Exec(context.Background(), `UNLISTEN `+notifyChannel) }()
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					return err
				}
				in.Wake()
			}
		}()
		if ctx.Err() == nil {
			in.log.Warn("kb notification listener stopped; polling meanwhile", "err", err)
			sleep(ctx, in.o.PollInterval)
		}
	}
}

func (in *Ingester) worker(ctx context.Context) {
	for ctx.Err() == nil {
		job, ok, err := in.claim(ctx)
		if err != nil {
			if ctx.Err() == nil {
				in.log.Error("kb claim failed", "err", err)
				sleep(ctx, in.o.PollInterval)
			}
			continue
		}
		if !ok {
			t := time.NewTimer(in.o.PollInterval)
			select {
			case <-ctx.Done():
			case <-in.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		in.Wake() // there may be more: let another idle worker look too
		in.process(ctx, job)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// job is a claimed document.
type job struct {
	doc   store.Document
	token uuid.UUID
}

// claim takes the next due document of any org. It runs as the schema
// owner, outside tenant scope, because a worker serves every org; all work
// on the document afterwards runs in its org.
func (in *Ingester) claim(ctx context.Context) (job, bool, error) {
	token := uuid.New()
	var j job
	j.token = token
	err := in.o.Pool.QueryRow(ctx, `UPDATE kb.documents SET status = 'extracting', attempts = attempts + 1,
			lease_token = $1, lease_until = now() + $2::interval, updated_at = now()
		WHERE id = (SELECT id FROM kb.documents WHERE status = 'queued' AND next_attempt_at <= now()
			ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id::text, org_id::text, collection_id::text, bot, kb, path, hash, attempts`,
		token, in.o.Lease.String()).Scan(&j.doc.ID, &j.doc.OrgID, &j.doc.CollectionID, &j.doc.Bot, &j.doc.KB,
		&j.doc.Path, &j.doc.Hash, &j.doc.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, false, nil
	}
	return j, err == nil, err
}

// permanentError fails a document at once: retrying cannot help.
type permanentError struct{ error }

func permanent(format string, args ...any) error {
	return permanentError{fmt.Errorf(format, args...)}
}

// errAbandoned means the document changed or vanished while we worked on it.
var errAbandoned = errors.New("document changed while being indexed")

func (in *Ingester) process(ctx context.Context, j job) {
	wctx, cancel := context.WithTimeout(ctx, in.o.Lease)
	defer cancel()
	log := in.log.With("org", j.doc.OrgID, "bot", j.doc.Bot, "path", j.doc.Path, "attempt", j.doc.Attempts)
	n, err := in.index(wctx, j)
	switch {
	case err == nil:
		log.Debug("document indexed", "chunks", n)
	case errors.Is(err, errAbandoned):
		log.Info("document changed while indexing; left to the newer work")
	case ctx.Err() != nil:
		// Shutting down: hand it back now, without spending an attempt.
		in.release(context.WithoutCancel(ctx), j)
	default:
		in.fail(context.WithoutCancel(ctx), log, j, err)
	}
}

func (in *Ingester) release(ctx context.Context, j job) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := pg.InOrg(ctx, in.o.Pool, j.doc.OrgID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE kb.documents SET status = 'queued', attempts = greatest(attempts - 1, 0),
				lease_token = NULL, lease_until = NULL, next_attempt_at = now(), updated_at = now()
			WHERE id = $1 AND lease_token = $2`, j.doc.ID, j.token)
		return err
	})
	if err != nil {
		in.log.Warn("could not hand back a document at shutdown; the sweeper will", "path", j.doc.Path, "err", err)
	}
}

func (in *Ingester) index(ctx context.Context, j job) (int, error) {
	d := j.doc
	c := index.Collection{ID: d.CollectionID, OrgID: d.OrgID, Bot: d.Bot, Name: d.KB}
	ex, err := in.o.Extractor.ExtractText(ctx, d.OrgID, d.Bot, d.Path)
	if err != nil {
		return 0, classifyExtract(err)
	}
	if ex.Hash != "" && !strings.EqualFold(ex.Hash, d.Hash) {
		return 0, fmt.Errorf("the file changed during extraction (hash %.12s, expected %.12s)", ex.Hash, d.Hash)
	}
	if err := in.setStatus(ctx, j, store.StatusEmbedding); err != nil {
		return 0, err
	}
	chunks, err := chunk.Split(ex.Text, in.o.Chunk)
	if err != nil {
		return 0, permanentError{err}
	}
	if len(chunks) == 0 {
		return 0, permanent("no text could be extracted from the document")
	}
	texts := make([]string, len(chunks))
	for i, ch := range chunks {
		texts[i] = chunk.EmbedText(ch)
	}
	vectors := make([][]float32, 0, len(texts))
	for i := 0; i < len(texts); i += in.o.EmbedBatch {
		v, err := in.o.Embedder.Embed(ctx, texts[i:min(i+in.o.EmbedBatch, len(texts))])
		if err != nil {
			return 0, err
		}
		vectors = append(vectors, v...)
	}
	points := make([]index.Point, len(chunks))
	for i := range chunks {
		points[i] = index.Point{ChunkID: ChunkID(d.ID, d.Hash, i), DocumentID: d.ID, Path: d.Path, Vector: vectors[i]}
	}
	if err := in.o.Index.DeleteDocument(ctx, c, d.ID); err != nil {
		return 0, fmt.Errorf("vector index: %w", err)
	}
	for i := 0; i < len(points); i += 1000 {
		if err := in.o.Index.Upsert(ctx, c, points[i:min(i+1000, len(points))]); err != nil {
			if errors.Is(err, index.ErrDimensions) {
				return 0, permanentError{fmt.Errorf("vector index: %w (the embedding model changed; reindex the knowledge base)", err)}
			}
			return 0, fmt.Errorf("vector index: %w", err)
		}
	}
	err = pg.InOrg(ctx, in.o.Pool, d.OrgID, func(tx pgx.Tx) error {
		var hash string
		err := tx.QueryRow(ctx, `SELECT hash FROM kb.documents WHERE id = $1 AND lease_token = $2 FOR UPDATE`,
			d.ID, j.token).Scan(&hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return errAbandoned
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM kb.chunks WHERE document_id = $1`, d.ID); err != nil {
			return err
		}
		ids := make([]string, len(chunks))
		ords := make([]int32, len(chunks))
		heads := make([]string, len(chunks))
		bodies := make([]string, len(chunks))
		for i, ch := range chunks {
			ids[i], ords[i], heads[i], bodies[i] = points[i].ChunkID, int32(ch.Ordinal), ch.Heading, ch.Text
		}
		// One statement for all chunks (COPY is refused under row-level security).
		if _, err := tx.Exec(ctx, `INSERT INTO kb.chunks (id, org_id, collection_id, document_id, ordinal, heading, text)
			SELECT u.id, $1, $2, $3, u.ordinal, u.heading, u.text
			FROM unnest($4::uuid[], $5::int[], $6::text[], $7::text[]) AS u (id, ordinal, heading, text)`,
			d.OrgID, d.CollectionID, d.ID, ids, ords, heads, bodies); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE kb.documents SET status = 'indexed', chunks = $2, truncated = $3, model = $4,
				error = '', lease_token = NULL, lease_until = NULL, indexed_at = now(), updated_at = now()
			WHERE id = $1`, d.ID, len(chunks), ex.Truncated, in.o.Embedder.Model()); err != nil {
			return err
		}
		_, err = events.Write(ctx, tx, schema, events.Event{Subject: "bot.vectordb.document.indexed",
			Payload: &vectordbv1.DocumentIndexed{OrgId: d.OrgID, Bot: d.Bot, Kb: d.KB, Path: d.Path, Hash: d.Hash, Chunks: int32(len(chunks))}})
		return err
	})
	if errors.Is(err, errAbandoned) {
		// If the document was deleted meanwhile, its vectors must go too.
		var gone bool
		_ = pg.InOrg(ctx, in.o.Pool, d.OrgID, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM kb.documents WHERE id = $1)`, d.ID).Scan(&gone)
		})
		if gone {
			_ = in.o.Index.DeleteDocument(ctx, c, d.ID)
		}
	}
	return len(chunks), err
}

// ChunkID is deterministic, so a retried attempt overwrites its own points.
func ChunkID(docID, hash string, ordinal int) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "kb:%s:%s:%d", docID, hash, ordinal)).String()
}

func (in *Ingester) setStatus(ctx context.Context, j job, status string) error {
	return pg.InOrg(ctx, in.o.Pool, j.doc.OrgID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE kb.documents SET status = $3, updated_at = now()
			WHERE id = $1 AND lease_token = $2`, j.doc.ID, j.token, status)
		if err == nil && tag.RowsAffected() == 0 {
			return errAbandoned
		}
		return err
	})
}

// classifyExtract decides whether botdrive's answer is worth retrying: a
// missing, unsupported or broken file is not; an unreachable botdrive is.
func classifyExtract(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("text extraction: %w", err)
	}
	msg := st.Message()
	switch st.Code() {
	case codes.NotFound:
		return permanent("the file no longer exists in drive")
	case codes.InvalidArgument, codes.FailedPrecondition, codes.Unimplemented, codes.OutOfRange, codes.ResourceExhausted:
		return permanent("text extraction failed: %s", msg)
	case codes.PermissionDenied, codes.Unauthenticated:
		return fmt.Errorf("text extraction refused: %s", msg)
	}
	return fmt.Errorf("text extraction: %s: %s", st.Code(), msg)
}

// fail records a failed attempt: back to queued with a back-off while
// attempts remain and the error may pass, else failed for good.
func (in *Ingester) fail(ctx context.Context, log *slog.Logger, j job, cause error) {
	var pe permanentError
	final := errors.As(cause, &pe) || j.doc.Attempts >= in.o.MaxAttempts
	delay := in.o.RetryBackoff << (2 * min(j.doc.Attempts-1, 5))
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	err := pg.InOrg(ctx, in.o.Pool, j.doc.OrgID, func(tx pgx.Tx) error {
		st := store.StatusQueued
		if final {
			st = store.StatusFailed
		}
		tag, err := tx.Exec(ctx, `UPDATE kb.documents SET status = $3, error = $4, lease_token = NULL, lease_until = NULL,
				next_attempt_at = now() + $5::interval, updated_at = now()
			WHERE id = $1 AND lease_token = $2`, j.doc.ID, j.token, st, msg, delay.String())
		if err != nil || tag.RowsAffected() == 0 || !final {
			return err
		}
		_, err = events.Write(ctx, tx, schema, events.Event{Subject: "bot.vectordb.document.failed",
			Payload: &vectordbv1.DocumentFailed{OrgId: j.doc.OrgID, Bot: j.doc.Bot, Kb: j.doc.KB, Path: j.doc.Path,
				Hash: j.doc.Hash, Error: msg, Attempts: int32(j.doc.Attempts)}})
		return err
	})
	if err != nil {
		log.Error("recording a failed attempt failed; the sweeper will take the document back", "err", err, "cause", cause)
		return
	}
	if final {
		log.Warn("document failed", "err", msg)
	} else {
		log.Info("document attempt failed; will retry", "err", msg, "retry_in", delay)
	}
}

func (in *Ingester) sweeper(ctx context.Context) {
	t := time.NewTicker(in.o.SweepInterval)
	defer t.Stop()
	for {
		if n, err := in.Sweep(ctx); err != nil && ctx.Err() == nil {
			in.log.Error("kb sweep failed", "err", err)
		} else if n > 0 {
			in.log.Warn("took back documents whose attempt did not finish", "documents", n)
			in.Wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep takes back documents whose lease expired: queued again, or failed
// when that was their last attempt. It runs as the schema owner across orgs.
func (in *Ingester) Sweep(ctx context.Context) (int64, error) {
	tag, err := in.o.Pool.Exec(ctx, `UPDATE kb.documents SET
			status = CASE WHEN attempts >= $1 THEN 'failed' ELSE 'queued' END,
			error = 'attempt ' || attempts || ' did not finish within ' || $2 || ' (worker stopped or stuck)',
			lease_token = NULL, lease_until = NULL, next_attempt_at = now(), updated_at = now()
		WHERE status IN ('extracting', 'embedding') AND lease_until < now()`, in.o.MaxAttempts, in.o.Lease.String())
	return tag.RowsAffected(), err
}

// Remodel queues again every document indexed with another embedding model
// than the current one, after emptying their collections' vectors (vectors
// of two models cannot be compared). Run at start.
func (in *Ingester) Remodel(ctx context.Context) error {
	rows, err := in.o.Pool.Query(ctx, `SELECT DISTINCT c.id::text, c.org_id::text, c.bot, c.name
		FROM kb.collections c JOIN kb.documents d ON d.collection_id = c.id
		WHERE d.model <> '' AND d.model <> $1`, in.o.Embedder.Model())
	if err != nil {
		return err
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index.Collection, error) {
		var c index.Collection
		return c, r.Scan(&c.ID, &c.OrgID, &c.Bot, &c.Name)
	})
	if err != nil {
		return err
	}
	for _, c := range cs {
		in.log.Warn("embedding model changed; re-indexing knowledge base", "org", c.OrgID, "bot", c.Bot, "kb", c.Name, "model", in.o.Embedder.Model())
		if err := in.o.Index.DeleteCollection(ctx, c); err != nil {
			return err
		}
		err := pg.InOrg(ctx, in.o.Pool, c.OrgID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE kb.documents SET status = 'queued', attempts = 0, error = '',
					next_attempt_at = now(), queued_at = now(), updated_at = now(), lease_token = NULL, lease_until = NULL
				WHERE collection_id = $1 AND status IN ('indexed', 'failed', 'queued')`, c.ID)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Reindex queues documents of bot again (a path, a knowledge base, or all;
// optionally only failed ones) in the org of tx.
func Reindex(ctx context.Context, tx pgx.Tx, bot, kb, path string, failedOnly bool) (int64, error) {
	q := `UPDATE kb.documents SET status = 'queued', attempts = 0, error = '', next_attempt_at = now(),
			queued_at = now(), updated_at = now(), lease_token = NULL, lease_until = NULL
		WHERE bot = $1 AND status IN ('indexed', 'failed', 'queued')`
	args := []any{bot}
	switch {
	case path != "":
		args = append(args, path)
		q += ` AND path = $2`
	case kb != "":
		args = append(args, kb)
		q += ` AND kb = $2`
	}
	if failedOnly {
		q += ` AND status = 'failed'`
	}
	tag, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	if tag.RowsAffected() > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel); err != nil {
			return 0, err
		}
	}
	return tag.RowsAffected(), nil
}
