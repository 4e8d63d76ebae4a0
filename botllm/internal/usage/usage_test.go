package usage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botllm/internal/usage"
	"github.com/botserver-go/botserver-go/botllm/migrations"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

func newStore(t *testing.T) *usage.Store {
	s, _ := newStoreAndPool(t)
	return s
}

func newStoreAndPool(t *testing.T) (*usage.Store, *pgxpool.Pool) {
	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(context.Background(), url, pg.Schema{Name: "llm", FS: migrations.FS}); err != nil {
		t.Fatal(err)
	}
	return usage.New(pool, nil), pool
}

func TestBatchedCountsAndBudgets(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	org := uuid.NewString()

	if _, err := s.SetBudget(ctx, org, "", 100); err != nil {
		t.Fatal(err)
	}
	s.Record(org, "a", "m", usage.Counts{Requests: 1, Prompt: 30, Completion: 20})
	s.Record(org, "a", "m", usage.Counts{Requests: 1, Cached: 1})
	// Pending (unflushed) counts already count against the budget.
	if err := s.Check(ctx, org, "a"); err != nil {
		t.Fatalf("50 of 100: %v", err)
	}
	s.Record(org, "b", "m", usage.Counts{Requests: 1, Prompt: 40, Completion: 10})
	err := s.Check(ctx, org, "a")
	if !errors.Is(err, usage.ErrBudgetExceeded) {
		t.Fatalf("100 of 100: %v", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, org, "b"); !errors.Is(err, usage.ErrBudgetExceeded) {
		t.Fatalf("after flush: %v", err)
	}
	rows, err := s.Report(ctx, org, "a", "2026-03-01", "2026-03-31")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Requests != 2 || rows[0].Cached != 1 || rows[0].Prompt != 30 || rows[0].Day != "2026-03-31" {
		t.Fatalf("rows = %+v", rows)
	}
	// A new month starts from zero.
	now = now.Add(2 * time.Hour)
	if err := s.Check(ctx, org, "a"); err != nil {
		t.Fatalf("next month: %v", err)
	}
	// Another org's counts are invisible, and it has no budget.
	other := uuid.NewString()
	if rows, _ := s.Report(ctx, other, "", "2026-01-01", "2026-12-31"); len(rows) != 0 {
		t.Fatalf("other org rows = %+v", rows)
	}
	if b, _ := s.Budgets(ctx, other, "*"); len(b) != 0 {
		t.Fatalf("other org budgets = %+v", b)
	}
}

func TestRunFlushesOnStopAndAfter(t *testing.T) {
	s, pool := newStoreAndPool(t)
	org := uuid.NewString()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, time.Hour); close(done) }()
	s.Record(org, "a", "m", usage.Counts{Requests: 1, Prompt: 5})
	cancel()
	<-done
	// Recorded during the shutdown drain, after the writer stopped.
	s.Record(org, "a", "m", usage.Counts{Requests: 1, Prompt: 5})
	// Read the table itself (as its owner): no flush by the reader.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var requests, prompt int64
		err := pool.QueryRow(context.Background(), `SELECT COALESCE(sum(requests), 0), COALESCE(sum(prompt_tokens), 0) FROM llm.usage_daily WHERE org_id = $1`, org).Scan(&requests, &prompt)
		if err != nil {
			t.Fatal(err)
		}
		if requests == 2 && prompt == 10 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("written: %d requests, %d prompt tokens; want 2 and 10", requests, prompt)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
