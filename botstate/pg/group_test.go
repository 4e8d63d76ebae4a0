package pg_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

const countersSQL = `
CREATE TABLE counters (org_id uuid NOT NULL, k text NOT NULL, n int NOT NULL DEFAULT 0, PRIMARY KEY (org_id, k));
CREATE TABLE log (org_id uuid NOT NULL, k text NOT NULL, n int NOT NULL, CHECK (n >= 0));
ALTER TABLE counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON counters USING (org_id = current_setting('bot.org_id')::uuid) WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
ALTER TABLE log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON log USING (org_id = current_setting('bot.org_id')::uuid) WITH CHECK (org_id = current_setting('bot.org_id')::uuid);`

func countersDB(t *testing.T, orgs ...string) (*pgxpool.Pool, context.Context) {
	t.Helper()
	ctx := context.Background()
	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: "grp", FS: fstest.MapFS{"2_counters.up.sql": {Data: []byte(countersSQL)}}}); err != nil {
		t.Fatal(err)
	}
	for _, org := range orgs {
		for k := range 20 {
			if _, err := pool.Exec(ctx, `INSERT INTO grp.counters (org_id, k) VALUES ($1, $2)`, org, fmt.Sprint(k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return pool, ctx
}

// bump queues one call's statements: lock and bump key k's counter, log
// the value it got (a negative delta fails the log's CHECK), and report the
// transaction and org it ran in.
func bump(k string, delta int, got *int, tx *int64, sawOrg *string) (func(*pgx.Batch), func(pgx.BatchResults) error) {
	return func(b *pgx.Batch) {
			b.Queue(`UPDATE grp.counters SET n = n + abs($2::int) WHERE k = $1`, k, delta)
			b.Queue(`INSERT INTO grp.log (org_id, k, n) SELECT org_id, k, CASE WHEN $2::int < 0 THEN -1 ELSE n END FROM grp.counters WHERE k = $1 RETURNING n`, k, delta)
			b.Queue(`SELECT txid_current(), current_setting('bot.org_id')`)
		}, func(r pgx.BatchResults) error {
			*got, *tx, *sawOrg = 0, 0, ""
			if _, err := r.Exec(); err != nil {
				return err
			}
			if err := r.QueryRow().Scan(got); err != nil {
				return err
			}
			return r.QueryRow().Scan(tx, sawOrg)
		}
}

// Many concurrent calls of two orgs through a group of one pipeline: every
// call gets its own results, in its own org, each key's calls see distinct
// values, and calls shared transactions (so the group did batch).
func TestGroupBatchesCallsOfOneOrg(t *testing.T) {
	a, b := uuid.NewString(), uuid.NewString()
	pool, ctx := countersDB(t, a, b)
	g := pg.NewGroup(pool, 1, 64)
	const calls = 400
	type result struct {
		org, k, sawOrg string
		n              int
		tx             int64
		err            error
	}
	results := make([]result, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			r.org, r.k = []string{a, b}[i%2], fmt.Sprint(i%20)
			q, read := bump(r.k, 1, &r.n, &r.tx, &r.sawOrg)
			r.err = g.InOrgBatch(ctx, r.org, r.k, q, read)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	txs := map[int64]string{}
	for _, r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.sawOrg != r.org {
			t.Fatalf("a call of org %s ran scoped to %s", r.org, r.sawOrg)
		}
		if o, ok := txs[r.tx]; ok && o != r.org {
			t.Fatalf("transaction %d mixed orgs %s and %s", r.tx, o, r.org)
		}
		txs[r.tx] = r.org
		key := fmt.Sprintf("%s/%s/%d", r.org, r.k, r.n)
		if seen[key] {
			t.Fatalf("two calls of %s/%s both got %d (tx %d)", r.org, r.k, r.n, r.tx)
		}
		seen[key] = true
	}
	if len(txs) == calls {
		t.Fatalf("%d calls in %d transactions: nothing was batched", calls, len(txs))
	}
	t.Logf("%d calls in %d transactions", calls, len(txs))
	var total int
	if err := pool.QueryRow(ctx, `SELECT sum(n) FROM grp.counters`).Scan(&total); err != nil || total != calls {
		t.Fatalf("counters sum to %d (%v), want %d", total, err, calls)
	}
}

// hold takes the group's only slot until release is closed, so the calls
// made meanwhile wait and go as one batch.
func hold(ctx context.Context, g *pg.Group, org string) (release chan struct{}, done chan error) {
	release, done, started := make(chan struct{}), make(chan error, 1), make(chan struct{})
	go func() {
		done <- g.InOrgBatch(ctx, org, "", func(b *pgx.Batch) { b.Queue(`SELECT 1`) }, func(r pgx.BatchResults) error {
			close(started)
			<-release
			_, err := r.Exec()
			return err
		})
	}()
	<-started
	return release, done
}

// One failing call in a batch rolls the batch back; the calls are run again
// one by one, so the failing one alone gets the error and every other
// call's writes land exactly once.
func TestGroupIsolatesAFailingCall(t *testing.T) {
	org := uuid.NewString()
	pool, ctx := countersDB(t, org)
	g := pg.NewGroup(pool, 1, 64)
	release, held := hold(ctx, g, org)
	const calls = 10
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			delta := 1
			if i == 4 {
				delta = -1 // fails the log's CHECK
			}
			var n int
			var tx int64
			var o string
			q, read := bump(fmt.Sprint(i), delta, &n, &tx, &o)
			errs[i] = g.InOrgBatch(ctx, org, fmt.Sprint(i), q, read)
		}()
	}
	waitWaiting()
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		var pgErr *pgconn.PgError
		switch {
		case i == 4 && !errors.As(err, &pgErr):
			t.Fatalf("the failing call got %v, want its check violation", err)
		case i != 4 && err != nil:
			t.Fatalf("call %d failed with its batch: %v", i, err)
		}
	}
	var rows, bumped int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM grp.log), (SELECT count(*) FROM grp.counters WHERE n = 1)`).Scan(&rows, &bumped); err != nil {
		t.Fatal(err)
	}
	if rows != calls-1 || bumped != calls-1 {
		t.Fatalf("%d log rows and %d counters bumped, want %d of each", rows, bumped, calls-1)
	}
}

// waitWaiting gives the goroutines time to queue behind the held slot (if
// one is late, it runs in a batch of its own: the tests hold either way).
func waitWaiting() { time.Sleep(200 * time.Millisecond) }

// A call that leaves results unread does not shift the next call's; a call
// whose context ends while it waits is not run.
func TestGroupKeepsCallsApart(t *testing.T) {
	org := uuid.NewString()
	pool, ctx := countersDB(t, org)
	g := pg.NewGroup(pool, 1, 64)
	release, held := hold(ctx, g, org)
	var wg sync.WaitGroup
	var lazyErr, nextErr error
	var next int
	wg.Add(2)
	go func() { // key "0" sorts first: its unread result must be skipped
		defer wg.Done()
		lazyErr = g.InOrgBatch(ctx, org, "0", func(b *pgx.Batch) {
			b.Queue(`SELECT 100`)
			b.Queue(`SELECT 200`)
		}, func(r pgx.BatchResults) error {
			var v int
			return r.QueryRow().Scan(&v)
		})
	}()
	go func() {
		defer wg.Done()
		nextErr = g.InOrgBatch(ctx, org, "1", func(b *pgx.Batch) { b.Queue(`SELECT 300`) }, func(r pgx.BatchResults) error {
			return r.QueryRow().Scan(&next)
		})
	}()
	gone, cancel := context.WithCancel(ctx)
	goneErr := make(chan error, 1)
	go func() {
		goneErr <- g.InOrgBatch(gone, org, "2", func(b *pgx.Batch) {
			b.Queue(`UPDATE grp.counters SET n = 99 WHERE k = '2'`)
		}, func(r pgx.BatchResults) error { _, err := r.Exec(); return err })
	}()
	waitWaiting()
	cancel()
	if err := <-goneErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled call returned %v", err)
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if lazyErr != nil || nextErr != nil || next != 300 {
		t.Fatalf("lazy call: %v; next call: %v, read %d, want 300", lazyErr, nextErr, next)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT n FROM grp.counters WHERE k = '2'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the cancelled call's update ran: n = %d (%v)", n, err)
	}
}
