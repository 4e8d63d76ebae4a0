package lifecycle

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Periodic is background work done every Every: key rotation, reloading,
// flushing. Each call gets its own deadline; a failed call is logged and
// the next tick tries again. Stop waits for a call in progress.
type Periodic struct {
	Name    string
	Every   time.Duration // 0: no ticks (only the call at start, if AtStart)
	Timeout time.Duration // of one call; default Every (none when both are 0)
	AtStart bool          // also call once in Start, before it returns
	Run     func(ctx context.Context) error
	Log     *slog.Logger
}

// Unit returns p as a unit for a Runner (or app.Env.AddUnit).
func (p Periodic) Unit() Unit {
	var (
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = p.Every
	}
	call := func(ctx context.Context) {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		if err := p.Run(ctx); err != nil && p.Log != nil {
			p.Log.Error(p.Name, "err", err)
		}
	}
	return Unit{
		Name: p.Name,
		Start: func(ctx context.Context) error {
			if p.AtStart {
				call(ctx)
			}
			if p.Every <= 0 {
				return nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := time.NewTicker(p.Every)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						call(context.Background())
					}
				}
			}()
			return nil
		},
		Stop: func(ctx context.Context) error {
			close(stop)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}
}
