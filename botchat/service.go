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
	"maps"
	"net/url"
	"time"

	"github.com/botserver-go/botserver-go/botchat/channels"
	"github.com/botserver-go/botserver-go/botchat/live"
	"github.com/botserver-go/botserver-go/botchat/pipeline"
	"github.com/botserver-go/botserver-go/botchat/server"
	"github.com/botserver-go/botserver-go/botchat/store"
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/authz"
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

	WhatsAppGraphURL   string        `env:"CHAT_WHATSAPP_GRAPH_URL" envDefault:"https://graph.facebook.com/v21.0" desc:"Base URL of the WhatsApp Cloud API (Graph API with its version); replies go to {url}/{phone-number-id}/messages."`
	TelegramAPIURL     string        `env:"CHAT_TELEGRAM_API_URL" envDefault:"https://api.telegram.org" desc:"Base URL of the Telegram Bot API; replies go to {url}/bot{token}/sendMessage."`
	ChannelRate        float64       `env:"CHAT_CHANNEL_RATE" envDefault:"20" desc:"Messages per second one bot may send on one channel (shared by every replica)."`
	ChannelMaxAttempts int           `env:"CHAT_CHANNEL_MAX_ATTEMPTS" envDefault:"8" desc:"Attempts to send one channel message before it is left dead with the reason."`
	ChannelRetryBase   time.Duration `env:"CHAT_CHANNEL_RETRY_BASE" envDefault:"2s" desc:"First back-off after a channel answered 429 or 5xx (doubling each attempt; Retry-After wins when given)."`
	ChannelRetryMax    time.Duration `env:"CHAT_CHANNEL_RETRY_MAX" envDefault:"10m" desc:"Longest back-off between attempts to send a channel message."`
	ChannelPoll        time.Duration `env:"CHAT_CHANNEL_POLL_INTERVAL" envDefault:"500ms" desc:"How often the channel sender looks for messages due to be sent."`
	ChannelSendTimeout time.Duration `env:"CHAT_CHANNEL_SEND_TIMEOUT" envDefault:"15s" desc:"Time limit of one HTTP send to a channel."`
	ChannelWorkers     int           `env:"CHAT_CHANNEL_WORKERS" envDefault:"8" desc:"Channel messages one replica sends at the same time."`
}

// Validate implements config.Validator.
func (s *Settings) Validate() error {
	if s.LeaseTTL < 3*time.Second || s.SweepInterval <= 0 || s.BotCacheTTL < 0 {
		return fmt.Errorf("CHAT_LEASE_TTL must be >= 3s, CHAT_SWEEP_INTERVAL > 0 and CHAT_BOT_CACHE_TTL >= 0")
	}
	for name, u := range map[string]string{"CHAT_WHATSAPP_GRAPH_URL": s.WhatsAppGraphURL, "CHAT_TELEGRAM_API_URL": s.TelegramAPIURL} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s must be an http(s) URL", name)
		}
	}
	if s.ChannelRate <= 0 || s.ChannelMaxAttempts < 1 || s.ChannelRetryBase <= 0 || s.ChannelRetryMax < s.ChannelRetryBase ||
		s.ChannelPoll <= 0 || s.ChannelSendTimeout <= 0 || s.ChannelWorkers < 1 {
		return fmt.Errorf("CHAT_CHANNEL_RATE, _MAX_ATTEMPTS, _RETRY_BASE, _POLL_INTERVAL, _SEND_TIMEOUT and _WORKERS must be > 0, and CHAT_CHANNEL_RETRY_MAX >= CHAT_CHANNEL_RETRY_BASE")
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
		Policy:   policy(),
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
			hub, err := live.Dial(env.Bus, "botchat-live")
			if err != nil {
				return err
			}
			srv := server.New(server.Options{
				Store: store.New(env.DB), Hub: hub, Auth: auth, Log: env.Log,
				Pipeline: pipeline.New(clients, env.Log, settings.BotCacheTTL),
				LeaseTTL: settings.LeaseTTL, SweepInterval: settings.SweepInterval,
			})
			chatv1.RegisterChatServiceServer(env.GRPC, srv)
			ch := channels.New(channels.Options{DB: env.DB, Chat: srv, Auto: clients.Auto, Log: env.Log,
				WhatsAppGraphURL: settings.WhatsAppGraphURL, TelegramAPIURL: settings.TelegramAPIURL,
				Rate: settings.ChannelRate, MaxAttempts: settings.ChannelMaxAttempts, RetryBase: settings.ChannelRetryBase,
				RetryMax: settings.ChannelRetryMax, Poll: settings.ChannelPoll, SendTimeout: settings.ChannelSendTimeout,
				Workers: settings.ChannelWorkers, ConfigTTL: settings.BotCacheTTL})
			chatv1.RegisterChannelServiceServer(env.GRPC, ch)
			if err := env.AddUnit(lifecycle.Unit{Name: "turns", Start: srv.Start, Stop: srv.Stop}); err != nil {
				return err
			}
			return env.AddUnit(lifecycle.Unit{Name: "channel-sender", Start: ch.Start, Stop: ch.Stop})
		},
	}
}

// policy is the chat API's rules and the channels' public webhook.
func policy() authz.Policy {
	p := authz.Policy{}
	maps.Copy(p, server.Policy)
	maps.Copy(p, channels.Policy)
	return p
}
