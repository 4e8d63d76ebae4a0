// Package store keeps botauto's state in Postgres schema auto: live bot
// packages, every program version that ran, conversations suspended at
// HEAR, and memories. Every query runs in pg.InOrg, so row-level security
// confines it to the caller's organisation.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/pg"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

// ErrNotFound is returned when a row does not exist (in the caller's org).
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a conversation changed between reading and
// saving its state (two turns of one conversation at once).
var ErrConflict = errors.New("the conversation changed concurrently")

// Store is botauto's data access.
type Store struct {
	pool *pgxpool.Pool
	// turns commits the reads and saves of busy turns together.
	turns *pg.Group
}

// New returns a Store on the service's pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, turns: pg.NewGroup(pool, 0, 0)} }

// Bot is the live package of a bot as stored.
type Bot struct {
	Bot         string
	Version     string
	Config      map[string]string
	Prompt      string
	Scripts     map[string]string // script name -> live program version
	Diagnostics json.RawMessage
	LoadedAt    time.Time
}

// Program is one stored program version.
type Program struct {
	Name, Version, Source string
}

// SaveBot makes b the live package and stores its programs (versions
// already stored are kept as they are).
func (s *Store) SaveBot(ctx context.Context, org string, b Bot, programs []Program) error {
	return pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, p := range programs {
			batch.Queue(`INSERT INTO auto.programs (org_id, bot, name, version, source)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, org, b.Bot, p.Name, p.Version, p.Source)
		}
		diags := b.Diagnostics
		if diags == nil {
			diags = json.RawMessage("[]")
		}
		batch.Queue(`INSERT INTO auto.bots (org_id, bot, version, config, prompt, scripts, diagnostics, loaded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, now())
			ON CONFLICT (org_id, bot) DO UPDATE SET version = excluded.version, config = excluded.config,
				prompt = excluded.prompt, scripts = excluded.scripts, diagnostics = excluded.diagnostics,
				loaded_at = excluded.loaded_at`,
			org, b.Bot, b.Version, b.Config, b.Prompt, b.Scripts, diags)
		return tx.SendBatch(ctx, batch).Close()
	})
}

// GetBot returns the live package of a bot.
func (s *Store) GetBot(ctx context.Context, org, bot string) (*Bot, error) {
	var b Bot
	err := pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT bot, version, config, prompt, scripts, diagnostics, loaded_at
			FROM auto.bots WHERE org_id = $1 AND bot = $2`, org, bot).
			Scan(&b.Bot, &b.Version, &b.Config, &b.Prompt, &b.Scripts, &b.Diagnostics, &b.LoadedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &b, err
}

// DeleteBot removes a bot's live package (its package is gone from storage).
// Program versions stay for conversations that still wait on them.
func (s *Store) DeleteBot(ctx context.Context, org, bot string) error {
	return pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM auto.bots WHERE org_id = $1 AND bot = $2`, org, bot)
		return err
	})
}

// ProgramSource returns the source of one program version.
func (s *Store) ProgramSource(ctx context.Context, org, bot, name, version string) (string, error) {
	var src string
	err := pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT source FROM auto.programs
			WHERE org_id = $1 AND bot = $2 AND name = $3 AND version = $4`, org, bot, name, version).Scan(&src)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return src, err
}

// Programs returns the sources of the given program versions (name ->
// version), keyed by name; missing ones are absent.
func (s *Store) Programs(ctx context.Context, org, bot string, versions map[string]string) (map[string]string, error) {
	names := make([]string, 0, len(versions))
	vers := make([]string, 0, len(versions))
	for n, v := range versions {
		names, vers = append(names, n), append(vers, v)
	}
	out := map[string]string{}
	err := pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT p.name, p.source FROM auto.programs p
			JOIN unnest($3::text[], $4::text[]) AS w(name, version) ON w.name = p.name AND w.version = p.version
			WHERE p.org_id = $1 AND p.bot = $2`, org, bot, names, vers)
		if err != nil {
			return err
		}
		for rows.Next() {
			var n, src string
			if err := rows.Scan(&n, &src); err != nil {
				return err
			}
			out[n] = src
		}
		return rows.Err()
	})
	return out, err
}

// Conversation is the script state of one conversation. State is nil when
// no script runs for it (start.bas already ran, or the script finished).
type Conversation struct {
	ID             string
	Bot            string
	Script         string
	ProgramVersion string
	State          []byte
	ExpiresAt      *time.Time
	Turn           int64 // optimistic concurrency: incremented by every save
}

// Turn reads what a turn needs in one round trip: the bot's live version and
// the conversation (nil when it is new).
func (s *Store) Turn(ctx context.Context, org, bot, conversation string) (botVersion string, c *Conversation, err error) {
	err = s.turns.InOrgBatch(ctx, org, conversation, func(b *pgx.Batch) {
		b.Queue(`SELECT b.version, c.bot, c.script, c.program_version, c.state, c.expires_at, c.turn
			FROM (SELECT $1::uuid AS org_id) o
			LEFT JOIN auto.bots b ON b.org_id = o.org_id AND b.bot = $2
			LEFT JOIN auto.conversations c ON c.org_id = o.org_id AND c.conversation_id = $3`,
			org, bot, conversation)
	}, func(r pgx.BatchResults) error {
		botVersion, c = "", nil
		var (
			cv      Conversation
			version *string
			cBot    *string
			script  *string
			pv      *string
			turn    *int64
			state   []byte
		)
		if err := r.QueryRow().Scan(&version, &cBot, &script, &pv, &state, &cv.ExpiresAt, &turn); err != nil {
			return err
		}
		if version != nil {
			botVersion = *version
		}
		if cBot != nil {
			cv.ID, cv.Bot, cv.Script, cv.ProgramVersion, cv.State, cv.Turn = conversation, *cBot, *script, *pv, state, *turn
			c = &cv
		}
		return nil
	})
	return botVersion, c, err
}

// SaveConversation stores c after a turn. prevTurn is the Turn read before
// it (0 for a new conversation); ErrConflict if another turn saved since.
func (s *Store) SaveConversation(ctx context.Context, org string, c *Conversation, prevTurn int64, isNew bool) error {
	// Group-committed: a conflict is a row not written, not an error.
	return s.turns.InOrgBatch(ctx, org, c.ID, func(b *pgx.Batch) {
		if isNew {
			b.Queue(`INSERT INTO auto.conversations
				(org_id, conversation_id, bot, script, program_version, state, expires_at, turn)
				VALUES ($1, $2, $3, $4, $5, $6, $7, 1) ON CONFLICT DO NOTHING`,
				org, c.ID, c.Bot, c.Script, c.ProgramVersion, c.State, c.ExpiresAt)
		} else {
			b.Queue(`UPDATE auto.conversations SET script = $3, program_version = $4,
				state = $5, expires_at = $6, turn = turn + 1, updated_at = now()
				WHERE org_id = $1 AND conversation_id = $2 AND turn = $7`,
				org, c.ID, c.Script, c.ProgramVersion, c.State, c.ExpiresAt, prevTurn)
		}
	}, func(r pgx.BatchResults) error {
		tag, err := r.Exec()
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrConflict
		}
		return nil
	})
}

// PublishEvent writes a script's event to the outbox; the relay publishes it.
func (s *Store) PublishEvent(ctx context.Context, org string, ev *autov1.ScriptEvent) error {
	return pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		_, err := events.Write(ctx, tx, "auto", events.Event{Subject: EventSubject, Payload: ev})
		return err
	})
}

// EventSubject is where PUBLISH EVENT's events go.
const EventSubject = "bot.auto.event.published"
