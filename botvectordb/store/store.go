// Package store reads and writes schema kb: collections (knowledge bases),
// documents with their ingestion state, and chunks. Functions taking a
// pgx.Tx expect it to be scoped to one organisation (pg.InOrg or AsOrg), so
// row-level security applies whatever the WHERE clauses say.
package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botvectordb/index"
)

// Document states.
const (
	StatusQueued     = "queued"
	StatusExtracting = "extracting"
	StatusEmbedding  = "embedding"
	StatusIndexed    = "indexed"
	StatusFailed     = "failed"
)

// AsOrg scopes a transaction that is already open (an event handler's) to
// one organisation, as pg.InOrg does for a new one.
func AsOrg(ctx context.Context, tx pgx.Tx, orgID string) error {
	if _, err := uuid.Parse(orgID); err != nil {
		return pg.ErrNoOrg
	}
	if _, err := tx.Exec(ctx, `SET LOCAL ROLE `+pg.Ident(pg.TenantRole)); err != nil {
		return fmt.Errorf("tenant role: %w", err)
	}
	_, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, pg.OrgSetting, orgID)
	return err
}

var (
	botName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	kbName  = regexp.MustCompile(`^[^/\x00-\x1f.][^/\x00-\x1f]{0,127}$`)
)

// CheckBot validates a bot slug.
func CheckBot(bot string) error {
	if !botName.MatchString(bot) {
		return fmt.Errorf("bot %q: want a slug of lower-case letters, digits and '-' (at most 63)", bot)
	}
	return nil
}

// CheckKB validates a knowledge base (folder) name.
func CheckKB(name string) error {
	if !kbName.MatchString(name) {
		return fmt.Errorf("knowledge base %q: want a folder name (no '/', not starting with '.', at most 128)", name)
	}
	return nil
}

// KBPath splits a package path ("mybot.gbkb/docs/a/b.pdf") into its
// knowledge base ("docs"). ok is false for paths outside <bot>.gbkb/<kb>/
// (other package folders, or files directly in <bot>.gbkb/).
func KBPath(bot, path string) (kb string, ok bool) {
	rest, found := strings.CutPrefix(path, bot+".gbkb/")
	if !found {
		return "", false
	}
	kb, file, found := strings.Cut(rest, "/")
	if !found || file == "" || CheckKB(kb) != nil {
		return "", false
	}
	return kb, true
}

// Collection is a row of kb.collections.
type Collection = index.Collection

// EnsureCollection returns the collection of bot's knowledge base name,
// creating it if needed.
func EnsureCollection(ctx context.Context, tx pgx.Tx, orgID, bot, name string) (Collection, error) {
	c := Collection{OrgID: orgID, Bot: bot, Name: name}
	err := tx.QueryRow(ctx, `INSERT INTO kb.collections (org_id, bot, name) VALUES ($1, $2, $3)
		ON CONFLICT (org_id, bot, name) DO UPDATE SET updated_at = collections.updated_at
		RETURNING id::text`, orgID, bot, name).Scan(&c.ID)
	return c, err
}

// Collections returns bot's collections by name; names empty means all.
func Collections(ctx context.Context, tx pgx.Tx, orgID, bot string, names []string) ([]Collection, error) {
	b := &pgx.Batch{}
	QueueCollections(b, bot, names)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	cs, err := ReadCollections(br)
	if err != nil {
		return nil, err
	}
	return cs, br.Close()
}

// QueueCollections queues the query of Collections on b (in a transaction
// scoped to the org), to be read by ReadCollections; names empty means all.
func QueueCollections(b *pgx.Batch, bot string, names []string) {
	q := `SELECT id::text, org_id::text, bot, name, vec_version FROM kb.collections WHERE bot = $1`
	args := []any{bot}
	if len(names) > 0 {
		q += ` AND name = ANY($2)`
		args = append(args, names)
	}
	b.Queue(q+` ORDER BY name`, args...)
}

// ReadCollections reads the result of QueueCollections.
func ReadCollections(br pgx.BatchResults) ([]Collection, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Collection, error) {
		var c Collection
		return c, r.Scan(&c.ID, &c.OrgID, &c.Bot, &c.Name, &c.VecVersion)
	})
}

// Document is a row of kb.documents.
type Document struct {
	ID, OrgID, CollectionID, Bot, KB, Path  string
	Hash, ContentType, Status, Error, Model string
	Size                                    int64
	Attempts, Chunks                        int
	Truncated                               bool
	ModifiedAt, IndexedAt                   *time.Time
	QueuedAt, UpdatedAt, NextAttemptAt      time.Time
}

const docColumns = `id::text, org_id::text, collection_id::text, bot, kb, path, hash, content_type, status, error,
	model, size, attempts, chunks, truncated, modified_at, indexed_at, queued_at, updated_at, next_attempt_at`

func scanDocument(r pgx.Row) (Document, error) {
	var d Document
	err := r.Scan(&d.ID, &d.OrgID, &d.CollectionID, &d.Bot, &d.KB, &d.Path, &d.Hash, &d.ContentType, &d.Status, &d.Error,
		&d.Model, &d.Size, &d.Attempts, &d.Chunks, &d.Truncated, &d.ModifiedAt, &d.IndexedAt, &d.QueuedAt, &d.UpdatedAt, &d.NextAttemptAt)
	return d, err
}

// ErrNotFound is returned when a row does not exist in the org.
var ErrNotFound = errors.New("not found")

// DocumentByPath returns one document of bot.
func DocumentByPath(ctx context.Context, tx pgx.Tx, bot, path string) (Document, error) {
	d, err := scanDocument(tx.QueryRow(ctx, `SELECT `+docColumns+` FROM kb.documents WHERE bot = $1 AND path = $2`, bot, path))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}

// DocumentByID returns one document.
func DocumentByID(ctx context.Context, tx pgx.Tx, id string) (Document, error) {
	d, err := scanDocument(tx.QueryRow(ctx, `SELECT `+docColumns+` FROM kb.documents WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}

// ListDocuments pages through bot's documents in path order, after the path
// `after`; kb and status filter when set.
func ListDocuments(ctx context.Context, tx pgx.Tx, bot, kb, status, after string, limit int) ([]Document, error) {
	q := `SELECT ` + docColumns + ` FROM kb.documents WHERE bot = $1 AND path > $2`
	args := []any{bot, after}
	if kb != "" {
		args = append(args, kb)
		q += fmt.Sprintf(` AND kb = $%d`, len(args))
	}
	if status != "" {
		args = append(args, status)
		q += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	args = append(args, limit)
	rows, err := tx.Query(ctx, q+fmt.Sprintf(` ORDER BY path LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Document, error) { return scanDocument(r) })
}

// KBStats are the counts of one knowledge base.
type KBStats struct {
	Name                          string
	Documents, Queued, InProgress int
	Indexed, Failed, Chunks       int
	UpdatedAt                     time.Time
}

// Stats counts the documents of each of bot's knowledge bases.
func Stats(ctx context.Context, tx pgx.Tx, bot string) ([]KBStats, error) {
	rows, err := tx.Query(ctx, `SELECT c.name,
			count(d.id),
			count(d.id) FILTER (WHERE d.status = 'queued'),
			count(d.id) FILTER (WHERE d.status IN ('extracting', 'embedding')),
			count(d.id) FILTER (WHERE d.status = 'indexed'),
			count(d.id) FILTER (WHERE d.status = 'failed'),
			coalesce(sum(d.chunks) FILTER (WHERE d.status = 'indexed'), 0),
			greatest(c.updated_at, max(d.updated_at))
		FROM kb.collections c LEFT JOIN kb.documents d ON d.collection_id = c.id
		WHERE c.bot = $1 GROUP BY c.id ORDER BY c.name`, bot)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (KBStats, error) {
		var s KBStats
		return s, r.Scan(&s.Name, &s.Documents, &s.Queued, &s.InProgress, &s.Indexed, &s.Failed, &s.Chunks, &s.UpdatedAt)
	})
}
