// Package botllm is the botllm service: LLM providers (OpenAI-compatible and
// Anthropic, streamed, with tool calls), embeddings, a response cache (exact
// and semantic), usage accounting with budgets, and an answer from retrieved
// knowledge when no model is configured. It owns schema llm.
package botllm

import (
	"context"
	"sync"

	"github.com/botserver-go/botserver-go/botllm/internal/llmcache"
	"github.com/botserver-go/botserver-go/botllm/internal/usage"
	"github.com/botserver-go/botserver-go/botllm/migrations"
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/lifecycle"
	"github.com/botserver-go/botserver-go/botstate/pg"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
)

// Service defines botllm for a service binary or the all-in-one.
func Service() *app.Service {
	set := &Settings{}
	return &app.Service{
		Name:     "botllm",
		Health:   llmv1.LlmService_ServiceDesc.ServiceName,
		Schemas:  []pg.Schema{{Name: "llm", FS: migrations.FS}},
		Settings: set,
		Policy:   policy,
		Setup: func(_ context.Context, env *app.Env) error {
			store := usage.New(env.DB, env.Log)
			srv := newServer(set, env.Log, llmcache.New(env.Cache), store)
			llmv1.RegisterLlmServiceServer(env.GRPC, srv)
			var (
				cancel context.CancelFunc
				wg     sync.WaitGroup
			)
			return env.AddUnit(lifecycle.Unit{
				Name: "usage-writer",
				Start: func(context.Context) error {
					var ctx context.Context
					ctx, cancel = context.WithCancel(context.Background())
					wg.Go(func() { store.Run(ctx, set.UsageFlush) })
					return nil
				},
				Stop: func(context.Context) error {
					cancel()
					wg.Wait()
					return nil
				},
			})
		},
	}
}
