// Package botauto is the botauto service: the BASIC compiler and resumable
// VM, tools and bot packages. Conversations suspended at HEAR live in schema
// auto, so any replica resumes them, also after a restart.
package botauto

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
	"github.com/botserver-go/botserver-go/botauto/bots"
	"github.com/botserver-go/botserver-go/botauto/runtime"
	"github.com/botserver-go/botserver-go/botauto/server"
	"github.com/botserver-go/botserver-go/botauto/store"
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/lifecycle"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
	contactsv1 "github.com/botserver-go/botserver-go/proto/bot/contacts/v1"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
	llmv1 "github.com/botserver-go/botserver-go/proto/bot/llm/v1"
	mailv1 "github.com/botserver-go/botserver-go/proto/bot/mail/v1"
	tasksv1 "github.com/botserver-go/botserver-go/proto/bot/tasks/v1"
	vectordbv1 "github.com/botserver-go/botserver-go/proto/bot/vectordb/v1"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Settings are botauto's own settings.
type Settings struct {
	BotsDir        string        `env:"BOTS_DIR" envDefault:"./bots" desc:"Folder of bot packages (<bot>.gbai) of the default organisation. botauto reads it itself only when botdrive is not deployed (then checking it every BOTS_RELOAD_INTERVAL); otherwise botdrive serves it."`
	ReloadInterval time.Duration `env:"BOTS_RELOAD_INTERVAL" envDefault:"2s" desc:"How often botauto checks BOTS_DIR for changed packages; 0 turns checking off."`
	MaxSteps       int64         `env:"SCRIPT_MAX_STEPS" envDefault:"5000000" desc:"Instructions one script run may execute."`
	MaxDuration    time.Duration `env:"SCRIPT_MAX_DURATION" envDefault:"10s" desc:"Wall-clock budget of one script run, service calls included."`
	MaxMemory      int64         `env:"SCRIPT_MAX_MEMORY" envDefault:"67108864" desc:"Bytes of strings, arrays and objects one script run may allocate."`
	HTTPTimeout    time.Duration `env:"SCRIPT_HTTP_TIMEOUT" envDefault:"10s" desc:"Timeout of one HTTP keyword call (GET/POST/...) from a script."`
}

// Validate implements config.Validator.
func (s *Settings) Validate() error {
	if s.MaxSteps <= 0 || s.MaxDuration <= 0 || s.MaxMemory <= 0 || s.HTTPTimeout <= 0 || s.ReloadInterval < 0 {
		return fmt.Errorf("SCRIPT_MAX_STEPS, SCRIPT_MAX_DURATION, SCRIPT_MAX_MEMORY and SCRIPT_HTTP_TIMEOUT must be > 0, BOTS_RELOAD_INTERVAL >= 0")
	}
	return nil
}

// Service defines botauto for a service binary or the all-in-one.
func Service() *app.Service {
	settings := &Settings{}
	sub, _ := fs.Sub(migrations, "migrations")
	return &app.Service{
		Name:     "botauto",
		Health:   autov1.AutoService_ServiceDesc.ServiceName,
		Schemas:  []pg.Schema{{Name: "auto", FS: sub}},
		Settings: settings,
		Policy:   server.Policy,
		Setup: func(_ context.Context, env *app.Env) error {
			svcs := services(env)
			// Packages come from botdrive when it is deployed (any org; it
			// also serves BOTS_DIR as the default org's storage and reports
			// changes as events); otherwise from BOTS_DIR directly.
			var src bots.Source = bots.Dir{Root: settings.BotsDir, Org: authz.DefaultOrgID}
			if svcs.Drive != nil {
				src = bots.Drive{Client: svcs.Drive}
			}
			var auth authv1.AuthServiceClient
			if cc, err := env.Clients.Conn("botauth"); err == nil {
				auth = authv1.NewAuthServiceClient(cc)
			}
			srv := server.New(server.Options{
				Store: store.New(env.DB), Source: src, Log: env.Log, Auth: auth,
				HTTP:     runtime.NewHTTP(settings.HTTPTimeout),
				Services: svcs,
				Limits:   vm.Limits{MaxSteps: settings.MaxSteps, MaxDuration: settings.MaxDuration, MaxMemory: settings.MaxMemory},
			})
			autov1.RegisterAutoServiceServer(env.GRPC, srv)
			if err := env.AddUnit(scriptEvents(srv, env)); err != nil {
				return err
			}
			if err := env.AddUnit(lifecycle.Periodic{Name: "bot-registrations", Every: 5 * time.Second, Timeout: 30 * time.Second,
				Run: srv.RetryRegistrations, Log: env.Log}.Unit()); err != nil {
				return err
			}
			if svcs.Drive != nil {
				return env.AddUnit(driveEvents(srv, env))
			}
			return env.AddUnit(reloader(srv, settings.ReloadInterval, env))
		},
	}
}

// services connects the keywords of other services; one not deployed
// answers "<service> is not available" from its keywords.
func services(env *app.Env) *runtime.Services {
	s := &runtime.Services{}
	if cc, err := env.Clients.Conn("botllm"); err == nil {
		s.LLM = llmv1.NewLlmServiceClient(cc)
	}
	if cc, err := env.Clients.Conn("botvectordb"); err == nil {
		s.KB = vectordbv1.NewVectordbServiceClient(cc)
	}
	if cc, err := env.Clients.Conn("botdrive"); err == nil {
		s.Drive = drivev1.NewDriveServiceClient(cc)
	}
	if cc, err := env.Clients.Conn("botmail"); err == nil {
		s.Mail = mailv1.NewMailServiceClient(cc)
	}
	if cc, err := env.Clients.Conn("bottasks"); err == nil {
		s.Tasks = tasksv1.NewTasksServiceClient(cc)
	}
	if cc, err := env.Clients.Conn("botcontacts"); err == nil {
		s.Contacts = contactsv1.NewContactsServiceClient(cc)
	}
	return s
}

// driveEvents reloads a bot when botdrive reports a change to one of its
// scripts, config.csv or PROMPT.md. One replica handles each event (durable
// consumer); the others see the new version in the database.
func driveEvents(srv *server.Server, env *app.Env) lifecycle.Unit {
	var c *events.Consumer
	return lifecycle.Unit{
		Name: "drive-events",
		Start: func(ctx context.Context) error {
			if _, err := events.EnsureStream(ctx, env.Bus.JS, "drive"); err != nil {
				return err
			}
			var err error
			c, err = events.NewConsumer(env.Bus.JS, env.DB, events.ConsumerOptions{
				Stream: events.StreamName("drive"), Durable: "auto_reload", Schema: "auto", Log: env.Log,
				FilterSubjects: []string{"bot.drive.file.changed", "bot.drive.file.deleted"},
				Handler: func(ctx context.Context, _ pgx.Tx, m events.Message) error {
					var org, bot, path string
					if m.Subject == "bot.drive.file.deleted" {
						var e drivev1.FileDeleted
						if err := m.Decode(&e); err != nil {
							return err
						}
						org, bot, path = e.OrgId, e.Bot, e.Path
					} else {
						var e drivev1.FileChanged
						if err := m.Decode(&e); err != nil {
							return err
						}
						org, bot, path = e.OrgId, e.Bot, e.Path
					}
					return srv.FileChanged(ctx, org, bot, path)
				},
			})
			if err != nil {
				return err
			}
			return c.Start(ctx)
		},
		Stop: func(ctx context.Context) error { return c.Stop(ctx) },
	}
}

// scriptEvents runs ON EVENT scripts for the events PUBLISH EVENT writes.
func scriptEvents(srv *server.Server, env *app.Env) lifecycle.Unit {
	var c *events.Consumer
	return lifecycle.Unit{
		Name: "script-events",
		Start: func(ctx context.Context) error {
			if _, err := events.EnsureStream(ctx, env.Bus.JS, "auto"); err != nil {
				return err
			}
			var err error
			c, err = events.NewConsumer(env.Bus.JS, env.DB, events.ConsumerOptions{
				Stream: events.StreamName("auto"), Durable: "auto_events", Schema: "auto", Log: env.Log,
				FilterSubjects: []string{store.EventSubject},
				Handler: func(ctx context.Context, _ pgx.Tx, m events.Message) error {
					var e autov1.ScriptEvent
					if err := m.Decode(&e); err != nil {
						return err
					}
					return srv.HandleEvent(ctx, &e)
				},
			})
			if err != nil {
				return err
			}
			return c.Start(ctx)
		},
		Stop: func(ctx context.Context) error { return c.Stop(ctx) },
	}
}

// reloader loads the default organisation's packages at start and again
// whenever BOTS_DIR changes. Loading is idempotent across replicas: an
// unchanged package is neither recompiled nor written.
func reloader(srv *server.Server, every time.Duration, env *app.Env) lifecycle.Unit {
	reload := func(ctx context.Context) error { return srv.Reload(ctx, authz.DefaultOrgID) }
	return lifecycle.Periodic{Name: "packages", Every: every, Timeout: max(every*10, time.Minute),
		AtStart: true, Run: reload, Log: env.Log}.Unit()
}
