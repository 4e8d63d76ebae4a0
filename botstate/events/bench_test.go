package events_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/pg"
)

// BenchmarkOutboxRelay measures events/s from Write (committed by 4
// concurrent writers) until JetStream has acked every one through the relay,
// and (relay_only) how fast one relay drains a backlog.
func BenchmarkOutboxRelay(b *testing.B) {
	b.Run("relay_only", func(b *testing.B) {
		e := newEnv(b, events.StreamOptions{})
		for n := b.N; n > 0; n -= 1000 {
			e.write(min(n, 1000))
		}
		b.ResetTimer()
		start := time.Now()
		e.relay(events.RelayOptions{})
		waitFor(b, time.Minute, "every event in the stream", func() bool { return e.streamMsgs("BOT_CHAT") == uint64(b.N) })
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
	for _, perTx := range []int{1, 100} {
		b.Run(fmt.Sprintf("events_per_tx=%d", perTx), func(b *testing.B) {
			e := newEnv(b, events.StreamOptions{})
			e.relay(events.RelayOptions{})
			payload := wrapperspb.String("a chat message of a typical size, say a sentence or two long")
			const writers = 4
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				n := b.N / writers
				if w == 0 {
					n += b.N % writers
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n > 0 {
						k := min(perTx, n)
						n -= k
						err := pg.InTx(e.ctx, e.pool, func(tx pgx.Tx) error {
							for i := 0; i < k; i++ {
								if _, err := events.Write(e.ctx, tx, "chat", events.Event{Subject: "bot.chat.message.created", Payload: payload}); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			waitFor(b, time.Minute, "every event in the stream", func() bool { return e.streamMsgs("BOT_CHAT") == uint64(b.N) })
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
