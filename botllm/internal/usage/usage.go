// Package usage keeps botllm's token accounting in schema llm: counts per
// org, bot, model and day, written in batches, and monthly token budgets per
// org or bot that are checked before a request goes upstream.
package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botstate/pg"
)

// Counts are what one or more requests used.
type Counts struct {
	Requests, Cached, Failed int64
	Prompt, Completion       int64
}

func (c *Counts) add(o Counts) {
	c.Requests += o.Requests
	c.Cached += o.Cached
	c.Failed += o.Failed
	c.Prompt += o.Prompt
	c.Completion += o.Completion
}

type key struct {
	org, bot, model string
	day             string // YYYY-MM-DD
}

// Store records usage in memory and flushes it to Postgres in batches, so a
// streamed token costs no database write. Reads (budgets, reports) add what
// is still pending in this process; another replica's pending counts show
// up after its next flush.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	pending map[key]*Counts
	// closed is set once Run has stopped: requests still finishing during
	// the shutdown drain then write their counts at once.
	closed atomic.Bool
}

// New returns a store writing to pool (schema llm).
func New(pool *pgxpool.Pool, log *slog.Logger) *Store {
	if log == nil {
		log = slog.Default()
	}
	return &Store{pool: pool, log: log, now: time.Now, pending: map[key]*Counts{}}
}

// SetClock replaces time.Now (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Day formats t as a usage day (UTC).
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Record adds c to today's counts of org/bot/model.
func (s *Store) Record(org, bot, model string, c Counts) {
	k := key{org, bot, model, Day(s.now())}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pending[k]; p != nil {
		p.add(c)
		return
	}
	cc := c
	s.pending[k] = &cc
	if s.closed.Load() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Flush(ctx); err != nil {
				s.log.Error("usage flush after shutdown failed", "err", err)
			}
		}()
	}
}

// Flush writes the pending counts, one transaction per org. Counts that
// could not be written stay pending for the next flush.
func (s *Store) Flush(ctx context.Context) error {
	s.mu.Lock()
	batch := s.pending
	s.pending = map[key]*Counts{}
	s.mu.Unlock()
	byOrg := map[string][]key{}
	for k := range batch {
		byOrg[k.org] = append(byOrg[k.org], k)
	}
	var errs []error
	for org, keys := range byOrg {
		err := pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			for _, k := range keys {
				c := batch[k]
				b.Queue(`INSERT INTO llm.usage_daily AS u (org_id, bot, model, day, requests, cached_requests, failed_requests, prompt_tokens, completion_tokens)
					VALUES ($1, $2, $3, $4::date, $5, $6, $7, $8, $9)
					ON CONFLICT (org_id, day, bot, model) DO UPDATE SET
						requests = u.requests + EXCLUDED.requests,
						cached_requests = u.cached_requests + EXCLUDED.cached_requests,
						failed_requests = u.failed_requests + EXCLUDED.failed_requests,
						prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
						completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
						updated_at = now()`,
					org, k.bot, k.model, k.day, c.Requests, c.Cached, c.Failed, c.Prompt, c.Completion)
			}
			return tx.SendBatch(ctx, b).Close()
		})
		if err != nil {
			if errors.Is(err, pg.ErrNoOrg) {
				s.log.Error("usage dropped: not an organisation id", "org", org)
				continue
			}
			errs = append(errs, fmt.Errorf("usage of org %s: %w", org, err))
			s.mu.Lock()
			for _, k := range keys {
				if p := s.pending[k]; p != nil {
					p.add(*batch[k])
				} else {
					s.pending[k] = batch[k]
				}
			}
			s.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// Run flushes every interval until ctx ends, then once more with a short
// deadline of its own so a shutdown keeps what was counted.
func (s *Store) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.closed.Store(true)
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.Flush(fctx); err != nil {
				s.log.Error("final usage flush failed", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("usage flush failed; will retry", "err", err)
			}
		}
	}
}

func (s *Store) pendingTokens(org, bot, fromDay string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k, c := range s.pending {
		if k.org == org && (bot == "" || k.bot == bot) && k.day >= fromDay {
			n += c.Prompt + c.Completion
		}
	}
	return n
}

// MonthStart is the first day of t's month (UTC).
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Budget is a monthly token limit and what the month used of it.
type Budget struct {
	Bot   string // "" for the organisation
	Limit int64
	Used  int64
}

// ErrBudgetExceeded is wrapped by Check's error.
var ErrBudgetExceeded = errors.New("monthly LLM token budget used up")

// Check returns an error wrapping ErrBudgetExceeded when the org's budget
// or the bot's own budget is used up for the current month.
func (s *Store) Check(ctx context.Context, org, bot string) error {
	budgets, err := s.Budgets(ctx, org, bot)
	if err != nil {
		return err
	}
	for _, b := range budgets {
		if b.Used >= b.Limit {
			scope := "the organisation"
			if b.Bot != "" {
				scope = "bot " + b.Bot
			}
			return fmt.Errorf("%w: %s used %d of its %d tokens this month (until %s UTC); an admin can raise it with SetBudget",
				ErrBudgetExceeded, scope, b.Used, b.Limit, MonthStart(s.now()).AddDate(0, 1, 0).Format(time.DateOnly))
		}
	}
	return nil
}

// Budgets returns the org-wide budget and, when bot is set, that bot's
// budget (or every bot's when bot is "*"), with the month's usage.
func (s *Store) Budgets(ctx context.Context, org, bot string) ([]Budget, error) {
	from := Day(MonthStart(s.now()))
	var out []Budget
	err := pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT b.bot, b.monthly_token_limit,
			       COALESCE((SELECT sum(u.prompt_tokens + u.completion_tokens) FROM llm.usage_daily u
			                  WHERE u.day >= $1::date AND (b.bot = '' OR u.bot = b.bot)), 0)::bigint
			  FROM llm.budgets b
			 WHERE b.bot = '' OR b.bot = $2 OR $2 = '*'
			 ORDER BY b.bot`, from, bot)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Budget, error) {
			var b Budget
			err := r.Scan(&b.Bot, &b.Limit, &b.Used)
			return b, err
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Used += s.pendingTokens(org, out[i].Bot, from)
	}
	return out, nil
}

// SetBudget sets (limit > 0) or removes (limit 0) a monthly budget.
func (s *Store) SetBudget(ctx context.Context, org, bot string, limit int64) (Budget, error) {
	if limit < 0 {
		return Budget{}, errors.New("the limit must not be negative")
	}
	err := pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		if limit == 0 {
			_, err := tx.Exec(ctx, `DELETE FROM llm.budgets WHERE bot = $1`, bot)
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO llm.budgets (org_id, bot, monthly_token_limit) VALUES ($1, $2, $3)
			ON CONFLICT (org_id, bot) DO UPDATE SET monthly_token_limit = EXCLUDED.monthly_token_limit, updated_at = now()`,
			org, bot, limit)
		return err
	})
	if err != nil {
		return Budget{}, err
	}
	b := Budget{Bot: bot, Limit: limit}
	if limit > 0 {
		all, err := s.Budgets(ctx, org, bot)
		if err != nil {
			return Budget{}, err
		}
		for _, x := range all {
			if x.Bot == bot {
				b = x
			}
		}
	}
	return b, nil
}

// Row is one bot/model/day of usage.
type Row struct {
	Bot, Model, Day string
	Counts
}

// Report returns usage between two days (inclusive, YYYY-MM-DD) for one
// bot or all (bot ""), after flushing what is pending.
func (s *Store) Report(ctx context.Context, org, bot, from, to string) ([]Row, error) {
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	var out []Row
	err := pg.InOrg(ctx, s.pool, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT bot, model, to_char(day, 'YYYY-MM-DD'), requests, cached_requests, failed_requests, prompt_tokens, completion_tokens
			  FROM llm.usage_daily
			 WHERE day BETWEEN $1::date AND $2::date AND ($3 = '' OR bot = $3)
			 ORDER BY day, bot, model
			 LIMIT 10000`, from, to, bot)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
			var x Row
			err := r.Scan(&x.Bot, &x.Model, &x.Day, &x.Requests, &x.Cached, &x.Failed, &x.Prompt, &x.Completion)
			return x, err
		})
		return err
	})
	return out, err
}
