package pg

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Group commits InOrgBatch calls together. A call runs at once, alone, while
// fewer than Parallel pipelines of the group are in flight; otherwise it
// waits, and the calls of one org that waited go as one pipeline — one
// implicit transaction, one round trip and one commit for all of them — as
// soon as a pipeline finishes. So an idle server sees no extra latency and a
// busy one pays the per-transaction cost (round trip, commit, WAL flush,
// scope) once per batch instead of once per call.
//
// What a caller must accept to use it:
//   - Its statements may share a transaction with other calls' statements
//     of the same org. They must not raise errors in normal operation
//     (conditions go in the statements), because one error rolls back the
//     whole batch; the calls are then run again, each alone, so the failing
//     one gets its own error and the others are unaffected.
//   - read may therefore run twice: it must start from scratch each time.
//   - A call locks rows of one key only (a conversation, say), the first of
//     them before anything else; calls run in key order within a batch, so
//     concurrent batches lock in the same order and cannot deadlock.
type Group struct {
	pool     *pgxpool.Pool
	parallel int
	max      int

	mu      sync.Mutex
	running int
	waiting map[string][]*groupCall // by org, oldest first
	orgs    []string                // orgs with waiting calls, oldest first
}

type groupCall struct {
	ctx     context.Context
	key     string
	queue   func(*pgx.Batch)
	read    func(pgx.BatchResults) error
	err     error
	started bool
	done    chan struct{}
}

// NewGroup commits through pool with at most parallel pipelines in flight
// (0: a quarter of the pool's connections, which the group's callers share
// with the rest of the service) and at most size calls in one (0: 64).
func NewGroup(pool *pgxpool.Pool, parallel, size int) *Group {
	if parallel <= 0 && pool != nil {
		parallel = int(pool.Config().MaxConns) / 4
	}
	parallel = max(parallel, 1)
	if size <= 0 {
		size = 64
	}
	return &Group{pool: pool, parallel: parallel, max: size, waiting: map[string][]*groupCall{}}
}

// batchTimeout bounds a merged pipeline, which no single caller's context
// may cancel for the others.
const batchTimeout = 30 * time.Second

// InOrgBatch is pg.InOrgBatch through the group; key orders the calls of a
// batch (see Group).
func (g *Group) InOrgBatch(ctx context.Context, orgID, key string, queue func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	if _, err := uuid.Parse(orgID); err != nil {
		return ErrNoOrg
	}
	c := &groupCall{ctx: ctx, key: key, queue: queue, read: read, done: make(chan struct{})}
	g.mu.Lock()
	if g.running < g.parallel {
		g.running++
		c.started = true
		g.mu.Unlock()
		c.err = InOrgBatch(ctx, g.pool, orgID, queue, read)
		g.next()
		return c.err
	}
	if len(g.waiting[orgID]) == 0 {
		g.orgs = append(g.orgs, orgID)
	}
	g.waiting[orgID] = append(g.waiting[orgID], c)
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !c.started {
		g.drop(orgID, c)
		g.mu.Unlock()
		return ctx.Err()
	}
	g.mu.Unlock()
	<-c.done // it is being committed: its outcome is what counts
	return c.err
}

// next hands the slot just freed to the oldest org's waiting calls, or
// gives it up.
func (g *Group) next() {
	g.mu.Lock()
	if len(g.orgs) == 0 {
		g.running--
		g.mu.Unlock()
		return
	}
	org := g.orgs[0]
	calls := g.waiting[org]
	if len(calls) > g.max {
		g.waiting[org] = slices.Clone(calls[g.max:])
		calls = calls[:g.max]
		g.orgs = append(g.orgs[1:], org)
	} else {
		delete(g.waiting, org)
		g.orgs = g.orgs[1:]
	}
	for _, c := range calls {
		c.started = true
	}
	g.mu.Unlock()
	go func() {
		g.commit(org, calls)
		g.next()
	}()
}

func (g *Group) drop(org string, c *groupCall) {
	calls := slices.DeleteFunc(g.waiting[org], func(w *groupCall) bool { return w == c })
	if len(calls) > 0 {
		g.waiting[org] = calls
		return
	}
	delete(g.waiting, org)
	g.orgs = slices.DeleteFunc(g.orgs, func(o string) bool { return o == org })
}

// commit runs calls as one pipeline and tells each its outcome.
func (g *Group) commit(org string, calls []*groupCall) {
	defer func() {
		for _, c := range calls {
			close(c.done)
		}
	}()
	if len(calls) == 1 {
		c := calls[0]
		c.err = InOrgBatch(c.ctx, g.pool, org, c.queue, c.read)
		return
	}
	slices.SortStableFunc(calls, func(a, b *groupCall) int { return compare(a.key, b.key) })
	ctx, cancel := context.WithTimeout(context.WithoutCancel(calls[0].ctx), batchTimeout)
	defer cancel()
	ns := make([]int, len(calls))
	err := InOrgBatch(ctx, g.pool, org, func(b *pgx.Batch) {
		for i, c := range calls {
			before := b.Len()
			c.queue(b)
			ns[i] = b.Len() - before
		}
	}, func(r pgx.BatchResults) error {
		for i, c := range calls {
			own := &ownResults{r: r, left: ns[i]}
			c.err = c.read(own)
			for ; own.left > 0; own.left-- { // what read left unread
				r.Exec()
			}
		}
		return nil
	})
	if rolledBack(err, calls) {
		// One statement failed and took the batch with it: each alone,
		// so only the failing call sees its error.
		for _, c := range calls {
			c.err = InOrgBatch(c.ctx, g.pool, org, c.queue, c.read)
		}
		return
	}
	if err != nil {
		for _, c := range calls {
			if c.err == nil {
				c.err = err
			}
		}
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rolledBack tells whether the server refused a statement of the batch,
// which ends its implicit transaction with a rollback.
func rolledBack(err error, calls []*groupCall) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return true
	}
	for _, c := range calls {
		if errors.As(c.err, &pgErr) {
			return true
		}
	}
	return false
}

// ownResults is one call's share of a merged batch's results.
type ownResults struct {
	r    pgx.BatchResults
	left int
}

var errNoMoreResults = errors.New("no more results for this call in the batch")

func (o *ownResults) take() bool {
	if o.left == 0 {
		return false
	}
	o.left--
	return true
}

func (o *ownResults) Exec() (pgconn.CommandTag, error) {
	if !o.take() {
		return pgconn.CommandTag{}, errNoMoreResults
	}
	return o.r.Exec()
}

func (o *ownResults) Query() (pgx.Rows, error) {
	if !o.take() {
		return nil, errNoMoreResults
	}
	return o.r.Query()
}

func (o *ownResults) QueryRow() pgx.Row {
	if !o.take() {
		return errRow{}
	}
	return o.r.QueryRow()
}

// Close is the group's business: the batch is closed once, after every call.
func (o *ownResults) Close() error { return nil }

type errRow struct{}

func (errRow) Scan(...any) error { return errNoMoreResults }

func (o *ownResults) Tx() pgx.Tx { return o.r.Tx() }
