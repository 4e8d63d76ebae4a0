// Package botchat is the botchat service: conversations and their messages,
// turns run through the bot's scripts (botauto) and LLM answers (botllm)
// with knowledge bases (botvectordb) and tools, frames streamed live across
// replicas, per-conversation ordering, and hand-off to human attendants.
// It owns schema chat.
package botchat

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/botserver-go/botserver-go/botchat/live"
	"github.com/botserver-go/botserver-go/botchat/pipeline"
	"github.com/botserver-go/botserver-go/botchat/server"
	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/lifecycle"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Settings are botchat's own settings.
type Settings struct {
	LeaseTTL      time.Duration `env:"CHAT_LEASE_TTL" envDefault:"30s" desc:"How long a replica holds a conversation it runs without renewing; after a crash its pending messages wait this long before another replica runs them."`
	SweepInterval time.Duration `env:"CHAT_SWEEP_INTERVAL" envDefault:"5s" desc:"How often botchat looks for conversations with waiting messages and no live replica."`
	BotCacheTTL   time.Duration `env:"CHAT_BOT_CACHE_TTL" envDefault:"5s" desc:"How long a bot's config and prompt (from botauto) are reused for LLM answers."`
}

// Validate implements config.Validator.
func (s *Settings) Validate() error {
	if s.LeaseTTL < 3*time.Second || s.SweepInterval <= 0 || s.BotCacheTTL < 0 {
		return fmt.Errorf("CHAT_LEASE_TTL must be >= 3s, CHAT_SWEEP_INTERVAL > 0 and CHAT_BOT_CACHE_TTL >= 0")
	}
	return nil
}

// Service defines botchat for a service binary or the all-in-one.
func Service() *app.Service {
	settings := &Settings{}
	sub, _ := fs.Sub(migrations, "migrations")
	return &app.Service{
		Name:     "botchat",
		Health:   chatv1.ChatService_ServiceDesc.ServiceName,
		Schemas:  []pg.Schema{{Name: store.Schema, FS: sub}},
		Settings: settings,
		Policy:   server.Policy,
		Setup: func(_ context.Context, env *app.Env) error {
			// Every turn needs botauto; without it botchat still serves
			// history and hand-off, and turns answer with a clear error.
			var clients pipeline.Clients
			if cc, err := env.Clients.Conn("botauto"); err == nil {
				clients.Auto = autov1.NewAutoServiceClient(cc)
			} else {
				env.Log.Warn("botauto is not configured (run it in this process or list it in SERVICE_ADDRS): turns will fail")
			}
			if cc, err := env.Clients.Conn("botllm"); err == nil {
				clients.LLM = llmv1.NewLlmServiceClient(cc)
			}
			if cc, err := env.Clients.Conn("botvectordb"); err == nil {
				clients.KB = vectordbv1.NewVectordbServiceClient(cc)
			}
			var auth authv1.AuthServiceClient
			if cc, err := env.Clients.Conn("botauth"); err == nil {
				auth = authv1.NewAuthServiceClient(cc)
			}
			srv := server.New(server.Options{
				Store: store.New(env.DB), Hub: live.New(env.Bus.Conn), Auth: auth, Log: env.Log,
				Pipeline: pipeline.New(clients, env.Log, settings.BotCacheTTL),
				LeaseTTL: settings.LeaseTTL, SweepInterval: settings.SweepInterval,
			})
			chatv1.RegisterChatServiceServer(env.GRPC, srv)
			return env.AddUnit(lifecycle.Unit{Name: "turns", Start: srv.Start, Stop: srv.Stop})
		},
	}
}
