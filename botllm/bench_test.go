package botllm_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botllm/internal/fakellm"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
)

// BenchmarkCacheHit is the latency of a Chat answered from the exact cache
// (gRPC round trip, hash, cache read, streamed reply), in process and in Redis.
func BenchmarkCacheHit(b *testing.B) {
	for _, backend := range []string{"memory", "redis"} {
		b.Run(backend, func(b *testing.B) {
			var settings []string
			if backend == "redis" {
				settings = append(settings, "REDIS_URL="+testutil.RedisURL())
			}
			e := startB(b, settings...)
			oa := fakellm.NewOpenAI(b)
			oa.Default(fakellm.Reply{Deltas: strings.Fields("The reading room is on the second floor next to the maps."), Usage: &fakellm.Usage{Prompt: 30, Completion: 12}})
			ctx := e.user("llm:use")
			req := ask("bench", fmt.Sprintf("where is the reading room? %s", backend), map[string]string{"llm-url": oa.URL})
			drain(b, e, ctx, req) // fills the cache
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if last := drain(b, e, ctx, req); !last.GetCached() {
					b.Fatal("not served from cache")
				}
			}
			b.StopTimer()
			if n := len(oa.Requests()); n != 1 {
				b.Fatalf("%d upstream requests", n)
			}
		})
	}
}

func drain(b *testing.B, e *env, ctx context.Context, req *llmv1.ChatRequest) *llmv1.ChatResponse {
	st, err := e.llm.Chat(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	var last *llmv1.ChatResponse
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return last
		}
		if err != nil {
			b.Fatal(err)
		}
		last = m
	}
}

const benchTokens = 500

// BenchmarkStreamPerToken compares the cost per streamed token of reading
// an OpenAI-compatible SSE stream directly with reading it through botllm's
// gRPC Chat (parse, re-encode, gRPC send). The ns/token metrics' ratio is
// botllm's overhead.
func BenchmarkStreamPerToken(b *testing.B) {
	oa := fakellm.NewOpenAI(b)
	deltas := make([]string, benchTokens)
	for i := range deltas {
		deltas[i] = fmt.Sprintf(" tok%d", i)
	}
	oa.Default(fakellm.Reply{Deltas: deltas, Usage: &fakellm.Usage{Prompt: 10, Completion: benchTokens}})

	b.Run("direct", func(b *testing.B) {
		body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"go"}]}`
		for i := 0; i < b.N; i++ {
			resp, err := http.Post(oa.URL+"/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data: ") {
					n++
				}
			}
			resp.Body.Close()
			if n < benchTokens {
				b.Fatalf("%d chunks", n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchTokens), "ns/token")
	})
	b.Run("botllm", func(b *testing.B) {
		e := startB(b)
		ctx := e.user("llm:use")
		req := ask("bench", "go", map[string]string{"llm-url": oa.URL, "llm-cache": "off"})
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			st, err := e.llm.Chat(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				m, err := st.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if m.GetDelta() != "" {
					n++
				}
			}
			if n != benchTokens {
				b.Fatalf("%d deltas", n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchTokens), "ns/token")
	})
}
