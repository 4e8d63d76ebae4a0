package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/botserver-go/botserver-go/botstate/pg"
)

// Memory scopes.
const (
	ScopeBot          = "bot"
	ScopeUser         = "user"
	ScopeConversation = "conversation"
)

// MaxMemoryBytes bounds one remembered value.
const MaxMemoryBytes = 64 << 10

// SetMemory stores a value (JSON) under key; ttl 0 keeps it forever.
func (s *Store) SetMemory(ctx context.Context, org, bot, scope, owner, key string, value json.RawMessage, ttl time.Duration) error {
	if len(value) > MaxMemoryBytes {
		return errors.New("value is larger than 64 KiB")
	}
	var expires *time.Time
	if ttl > 0 {
		t := time.Now().Add(ttl)
		expires = &t
	}
	_, err := pg.ExecInOrg(ctx, s.pool, org, `INSERT INTO auto.memories (org_id, bot, scope, owner, key, value, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (org_id, bot, scope, owner, key) DO UPDATE
		SET value = excluded.value, expires_at = excluded.expires_at, updated_at = now()`,
		org, bot, scope, owner, key, value, expires)
	return err
}

// GetMemory returns a stored value, or ErrNotFound (also once it expired).
func (s *Store) GetMemory(ctx context.Context, org, bot, scope, owner, key string) (json.RawMessage, error) {
	var v json.RawMessage
	err := pg.QueryRowInOrg(ctx, s.pool, org, func(r pgx.Row) error { return r.Scan(&v) }, `SELECT value FROM auto.memories
		WHERE org_id = $1 AND bot = $2 AND scope = $3 AND owner = $4 AND key = $5
		AND (expires_at IS NULL OR expires_at > now())`, org, bot, scope, owner, key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return v, err
}

// Memory is one stored memory.
type Memory struct {
	Key       string
	Value     json.RawMessage
	ExpiresAt *time.Time
	UpdatedAt time.Time
}

// ListMemories returns the live memories of one scope and owner, by key.
func (s *Store) ListMemories(ctx context.Context, org, bot, scope, owner string) ([]Memory, error) {
	var out []Memory
	err := pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT key, value, expires_at, updated_at FROM auto.memories
			WHERE org_id = $1 AND bot = $2 AND scope = $3 AND owner = $4
			AND (expires_at IS NULL OR expires_at > now()) ORDER BY key LIMIT 1000`, org, bot, scope, owner)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Memory, error) {
			var m Memory
			return m, r.Scan(&m.Key, &m.Value, &m.ExpiresAt, &m.UpdatedAt)
		})
		return err
	})
	return out, err
}

// DeleteMemory removes one memory.
func (s *Store) DeleteMemory(ctx context.Context, org, bot, scope, owner, key string) error {
	return pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM auto.memories WHERE org_id = $1 AND bot = $2 AND scope = $3 AND owner = $4 AND key = $5`,
			org, bot, scope, owner, key)
		return err
	})
}
