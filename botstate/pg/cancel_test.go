package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

// A statement whose caller gives up finishes within the grace period and
// its connection goes back to the pool, instead of being closed (a crowd of
// clients leaving at once used to replace every pooled connection).
func TestCancelledStatementKeepsItsConnection(t *testing.T) {
	ctx := context.Background()
	pool, err := pg.Open(ctx, testutil.NewDatabase(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	backend := func() int {
		var pid int
		if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	before := backend()
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = pool.Exec(cctx, `SELECT pg_sleep(0.3)`)
	t.Logf("cancelled statement: %v", err)
	if after := backend(); after != before {
		t.Fatalf("the connection was replaced (backend %d, then %d)", before, after)
	}
	// A statement longer than the grace still ends: its connection is cut.
	cctx, cancel = context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := pool.Exec(cctx, `SELECT pg_sleep(30)`); err == nil {
		t.Fatal("a 30 s statement outlived its cancelled context")
	}
	if d := time.Since(start); d > pg.CancelGrace+5*time.Second {
		t.Fatalf("a cancelled statement held its caller %s", d)
	}
}
