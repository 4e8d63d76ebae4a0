package events

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff spaces retries while Postgres or NATS is down: 100ms doubling to
// 10s, with jitter so replicas do not retry in step.
type backoff struct{ attempt int }

func (b *backoff) next() time.Duration {
	d := 100 * time.Millisecond << min(b.attempt, 7)
	d = min(d, 10*time.Second)
	b.attempt++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.attempt = 0 }

// sleep waits d; false when ctx ended or stop closed first.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}
