// Package botllm is the botllm service: LLM providers, embeddings, response cache and usage accounting.
// Its domain API arrives with issue #6; until then it serves health,
// reflection and metrics, and owns schema llm.
package botllm

import (
	"context"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/pg"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
)

// Service defines botllm for a service binary or the all-in-one.
func Service() *app.Service {
	return &app.Service{
		Name:    "botllm",
		Health:  llmv1.LlmService_ServiceDesc.ServiceName,
		Schemas: []pg.Schema{{Name: "llm"}},
		Setup: func(_ context.Context, env *app.Env) error {
			llmv1.RegisterLlmServiceServer(env.GRPC, llmv1.UnimplementedLlmServiceServer{})
			return nil
		},
	}
}
