package botchat_test

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
)

// BenchmarkScriptedTurn measures whole turns through botchat's gRPC API
// (Send: accept in order, lease, script turn on an in-test botauto that
// answers at once, store, frames back), one conversation per client, with
// -cpu setting the concurrency factor. Reports turns/s and latency
// percentiles.
func BenchmarkScriptedTurn(b *testing.B) {
	e := newEnvB(b)
	ctx := e.ctx(e.iss.User(uuid.NewString(), "chat:use"))
	var (
		mu   sync.Mutex
		lats []time.Duration
	)
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		resp, err := e.chats[0].OpenConversation(ctx, &chatv1.OpenConversationRequest{Bot: "bench"})
		if err != nil {
			b.Error(err)
			return
		}
		var local []time.Duration
		i := 0
		for pb.Next() {
			i++
			t0 := time.Now()
			st, err := e.chats[0].Send(ctx, &chatv1.SendRequest{Message: &chatv1.Inbound{ConversationId: resp.Conversation.Id, Content: fmt.Sprint(i)}})
			if err != nil {
				b.Error(err)
				return
			}
			for {
				if _, err := st.Recv(); err == io.EOF {
					break
				} else if err != nil {
					b.Error(err)
					return
				}
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lats)
	if len(lats) > 0 {
		pct := func(p float64) float64 { return float64(lats[int(p*float64(len(lats)-1))].Microseconds()) / 1000 }
		b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "turns/s")
		b.ReportMetric(pct(0.5), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
	}
}
