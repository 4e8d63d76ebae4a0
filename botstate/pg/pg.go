// Package pg opens the Postgres pool a service uses and runs its schema
// migrations. Each service owns one schema; its migrations table lives inside
// that schema, so services migrate independently and replicas can start at
// the same time (golang-migrate holds an advisory lock per schema).
package pg

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CancelGrace is how long a statement whose context was cancelled may still
// run before its connection is closed.
const CancelGrace = 2 * time.Second

// Open connects a pool and checks the server answers. maxConns (optional)
// sizes the pool unless the URL sets pool_max_conns; pgx's own default (4
// on small machines) queues every request of an all-in-one behind 4
// connections.
func Open(ctx context.Context, url string, maxConns ...int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if len(maxConns) > 0 && maxConns[0] > 0 && !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = maxConns[0]
	}
	// A cancelled context (a client gone, a stream closed) lets a statement
	// under way finish for CancelGrace before the connection is cut:
	// pgx's default cuts it at once, and many clients leaving together then
	// replace the whole pool (each new connection forks a backend and
	// prepares every statement again).
	cfg.ConnConfig.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn(), DeadlineDelay: CancelGrace}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres at %s:%d is not answering: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// InTx runs fn in a transaction, committing when it returns nil.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, fn)
}

// Ident quotes an identifier such as a schema name.
func Ident(name string) string { return pgx.Identifier{name}.Sanitize() }
