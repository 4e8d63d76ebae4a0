// Package botcore is the public edge of the platform: the HTTP gateway on
// PUBLIC_ADDR (API, chat WebSocket and web UI as they arrive) in front of
// the other services, which it reaches over gRPC. Schema core holds the bot
// registry when it lands.
package botcore

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"

	authapi "github.com/botserver-go/botserver-go/botcore/api/auth"
	autoapi "github.com/botserver-go/botserver-go/botcore/api/auto"
	channelsapi "github.com/botserver-go/botserver-go/botcore/api/channels"
	chatapi "github.com/botserver-go/botserver-go/botcore/api/chat"
	driveapi "github.com/botserver-go/botserver-go/botcore/api/drive"
	kbapi "github.com/botserver-go/botserver-go/botcore/api/kb"
	llmapi "github.com/botserver-go/botserver-go/botcore/api/llm"
	webchatapi "github.com/botserver-go/botserver-go/botcore/api/webchat"
	"github.com/botserver-go/botserver-go/botcore/gateway"
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/httpx"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
	chatv1 "github.com/botserver-go/botserver-go/proto/bot/chat/v1"
	compliancev1 "github.com/botserver-go/botserver-go/proto/bot/compliance/v1"
	contactsv1 "github.com/botserver-go/botserver-go/proto/bot/contacts/v1"
	corev1 "github.com/botserver-go/botserver-go/proto/bot/core/v1"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
	mailv1 "github.com/botserver-go/botserver-go/proto/bot/mail/v1"
	tasksv1 "github.com/botserver-go/botserver-go/proto/bot/tasks/v1"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
	videov1 "github.com/botserver-go/botserver-go/proto/bot/video/v1"
)

// Settings are the gateway's own settings.
type Settings struct {
	PublicAddr     string        `env:"PUBLIC_ADDR" envDefault:":8080" desc:"Public HTTP listen address of the gateway (botcore)."`
	CORSOrigins    []string      `env:"CORS_ORIGINS" desc:"Origins allowed to call the API from a browser, comma-separated, or *. Unset: no CORS headers."`
	RateLimit      int           `env:"RATE_LIMIT" envDefault:"600" desc:"Requests per client IP per RATE_WINDOW at the gateway; 0 turns it off. Shared across replicas through REDIS_URL."`
	RateWindow     time.Duration `env:"RATE_WINDOW" envDefault:"1m" desc:"Window of RATE_LIMIT."`
	WebhookLimit   int           `env:"WEBHOOK_RATE_LIMIT" envDefault:"12000" desc:"Requests per client IP per RATE_WINDOW on channel webhooks, counted apart from RATE_LIMIT (WhatsApp and Telegram call from a few addresses; each request's signature is checked); 0: no limit on them."`
	MaxBodyBytes   int64         `env:"MAX_BODY_BYTES" envDefault:"10485760" desc:"Largest request body the gateway accepts (bytes)."`
	TrustedProxies []string      `env:"TRUSTED_PROXIES" desc:"CIDRs of proxies whose X-Forwarded-For/-Proto the gateway believes."`
	WebRoot        string        `env:"WEB_ROOT" desc:"Folder served at / instead of the embedded web UI."`
}

// Validate implements config.Validator.
func (s *Settings) Validate() error {
	if s.RateLimit < 0 || s.WebhookLimit < 0 || s.MaxBodyBytes <= 0 || s.RateWindow <= 0 {
		return fmt.Errorf("RATE_LIMIT and WEBHOOK_RATE_LIMIT must be >= 0, RATE_WINDOW and MAX_BODY_BYTES > 0")
	}
	if s.WebRoot != "" {
		if st, err := os.Stat(s.WebRoot); err != nil || !st.IsDir() {
			return fmt.Errorf("WEB_ROOT %q is not a folder", s.WebRoot)
		}
	}
	return nil
}

// backends are every service the gateway fronts, by binary name and the
// gRPC service its health check asks about.
var backends = []gateway.Backend{
	{Name: "botauth", Service: authv1.AuthService_ServiceDesc.ServiceName},
	{Name: "botauto", Service: autov1.AutoService_ServiceDesc.ServiceName},
	{Name: "botchat", Service: chatv1.ChatService_ServiceDesc.ServiceName},
	{Name: "botcompliance", Service: compliancev1.ComplianceService_ServiceDesc.ServiceName},
	{Name: "botcontacts", Service: contactsv1.ContactsService_ServiceDesc.ServiceName},
	{Name: "botcore", Service: corev1.CoreService_ServiceDesc.ServiceName},
	{Name: "botdrive", Service: drivev1.DriveService_ServiceDesc.ServiceName},
	{Name: "botllm", Service: llmv1.LlmService_ServiceDesc.ServiceName},
	{Name: "botmail", Service: mailv1.MailService_ServiceDesc.ServiceName},
	{Name: "bottasks", Service: tasksv1.TasksService_ServiceDesc.ServiceName},
	{Name: "botvectordb", Service: vectordbv1.VectordbService_ServiceDesc.ServiceName},
	{Name: "botvideo", Service: videov1.VideoService_ServiceDesc.ServiceName},
}

// Service defines botcore for a service binary or the all-in-one.
func Service() *app.Service {
	settings := &Settings{}
	return &app.Service{
		Name:     "botcore",
		Health:   corev1.CoreService_ServiceDesc.ServiceName,
		Schemas:  []pg.Schema{{Name: "core"}},
		Settings: settings,
		Setup: func(_ context.Context, env *app.Env) error {
			corev1.RegisterCoreServiceServer(env.GRPC, corev1.UnimplementedCoreServiceServer{})
			return setupGateway(env, settings)
		},
	}
}

func setupGateway(env *app.Env, s *Settings) error {
	bs := make([]gateway.Backend, len(backends))
	for i, b := range backends {
		bs[i] = b
		// A service with no address is listed as not configured.
		if cc, err := env.Clients.Conn(b.Name); err == nil {
			bs[i].Conn = cc
		}
	}
	opts := gateway.Options{
		Log: env.Log, Cache: env.Cache, Metrics: env.Metrics, Ready: env.Ready, Backends: bs,
		CORSOrigins: s.CORSOrigins, RateLimit: s.RateLimit, WebhookRateLimit: s.WebhookLimit, RateWindow: s.RateWindow,
		MaxBodyBytes: s.MaxBodyBytes, TrustedProxies: s.TrustedProxies,
	}
	if s.WebRoot != "" {
		opts.WebRoot = os.DirFS(s.WebRoot)
	}
	gw, err := gateway.New(opts)
	if err != nil {
		return err
	}
	// Each service's public API, when the service is deployed.
	for _, api := range []struct {
		backend  string
		register func(*gateway.Gateway, grpc.ClientConnInterface)
	}{
		{"botauth", authapi.Register},
		{"botchat", chatapi.Register},
		{"botchat", channelsapi.Register},
		{"botdrive", driveapi.Register},
		{"botllm", llmapi.Register},
		{"botauto", webchatapi.Register},
		{"botauto", autoapi.Register},
		{"botvectordb", kbapi.Register},
	} {
		if cc, err := env.Clients.Conn(api.backend); err == nil {
			api.register(gw, cc)
		}
	}
	srv := httpx.NewServer(gw)
	addr, err := srv.Listen(s.PublicAddr)
	if err != nil {
		return err
	}
	env.Log.Info("gateway listening", "addr", addr.String())
	return env.AddUnit(srv.Unit("gateway"))
}
