package botauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
)

// keyStore holds botauth's signing keys in auth.signing_keys (a platform
// table the tenant role cannot read) and rotates them without downtime:
//
//   - a new key is published in the JWKS at once but signs only from
//     activates_at (AUTH_KEY_ACTIVATION_DELAY later), so every verifier
//     can learn it (they refetch on an unknown kid) before meeting it;
//   - the key it replaces keeps verifying until every token it signed has
//     expired (retires_at = new key's activation + access TTL + 1m), then
//     leaves the JWKS.
//
// Replicas share the table; rotation takes an advisory lock, and each
// replica reloads the keys every keyReload.
type keyStore struct {
	pool      *pgxpool.Pool
	rotation  time.Duration
	delay     time.Duration
	accessTTL time.Duration
	now       func() time.Time

	mu       sync.Mutex
	loadedAt time.Time
	keys     []storedKey // newest first
}

type storedKey struct {
	key                *authz.Key
	activates, retires time.Time // retires zero: not retired
}

const keyReload = 30 * time.Second

// lockKeys is the advisory lock id of rotation.
const lockKeys = 0x6b657973 // "keys"

// rotate makes sure a key signs now and that the newest is younger than the
// rotation period. It is safe to call from every replica.
func (s *keyStore) rotate(ctx context.Context) error {
	now := s.now()
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKeys); err != nil {
			return err
		}
		var newest, active *time.Time
		if err := tx.QueryRow(ctx, `SELECT max(created_at), max(activates_at) FILTER (WHERE activates_at <= $1) FROM auth.signing_keys`, now).Scan(&newest, &active); err != nil {
			return err
		}
		switch {
		case active == nil && newest == nil:
			return s.insert(ctx, tx, now, now) // first start: sign at once
		case newest != nil && now.Sub(*newest) >= s.rotation:
			return s.insert(ctx, tx, now, now.Add(s.delay))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	s.mu.Lock()
	s.loadedAt = time.Time{}
	s.mu.Unlock()
	return nil
}

// insert adds a key and schedules the retirement of the ones it replaces.
func (s *keyStore) insert(ctx context.Context, tx pgx.Tx, now, activates time.Time) error {
	k, err := authz.NewKey()
	if err != nil {
		return err
	}
	retire := activates.Add(s.accessTTL + time.Minute)
	if _, err := tx.Exec(ctx, `UPDATE auth.signing_keys SET retires_at = $1 WHERE retires_at IS NULL`, retire); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO auth.signing_keys (kid, seed, activates_at, created_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Private.Seed(), activates, now)
	return err
}

func (s *keyStore) load(ctx context.Context) ([]storedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.keys != nil && now.Sub(s.loadedAt) < keyReload {
		return s.keys, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT seed, activates_at, retires_at FROM auth.signing_keys
		WHERE retires_at IS NULL OR retires_at > $1 ORDER BY activates_at DESC`, now)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	var keys []storedKey
	for rows.Next() {
		var seed []byte
		var sk storedKey
		var retires *time.Time
		if err := rows.Scan(&seed, &sk.activates, &retires); err != nil {
			return nil, err
		}
		if sk.key, err = authz.KeyFromSeed(seed); err != nil {
			return nil, err
		}
		if retires != nil {
			sk.retires = *retires
		}
		keys = append(keys, sk)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.keys, s.loadedAt = keys, now
	return keys, nil
}

// signer is the newest key that may sign now.
func (s *keyStore) signer(ctx context.Context) (*authz.Key, error) {
	keys, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, k := range keys {
		if !k.activates.After(now) {
			return k.key, nil
		}
	}
	return nil, errors.New("no active signing key")
}

// jwks is every key that still verifies (and the next one).
func (s *keyStore) jwks(ctx context.Context) (authz.JWKS, error) {
	keys, err := s.load(ctx)
	if err != nil {
		return authz.JWKS{}, err
	}
	set := authz.JWKS{Keys: []authz.JWK{}}
	now := s.now()
	for _, k := range keys {
		if k.retires.IsZero() || k.retires.After(now) {
			set.Keys = append(set.Keys, k.key.JWK())
		}
	}
	return set, nil
}
