// Package app turns service definitions into a running process. A service
// binary calls Main with its one Service; the all-in-one botserver calls it
// with several. Either way the process does the same things, in order:
//
//  1. load and validate settings (config), set up logging and tracing;
//  2. migrate each service's schemas (`<binary> migrate` stops here);
//  3. open the shared pools: Postgres, cache, NATS (embedded when NATS_URL is unset);
//  4. bind the gRPC and operations listeners, call each service's Setup;
//  5. start (servers, then service units), report SERVING, and on SIGTERM
//     or SIGINT drain and stop in reverse (see botstate/lifecycle).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/cache"
	"github.com/botserver-go/botserver-go/botstate/config"
	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/grpcx"
	"github.com/botserver-go/botserver-go/botstate/httpx"
	"github.com/botserver-go/botserver-go/botstate/lifecycle"
	"github.com/botserver-go/botserver-go/botstate/logx"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/telemetry"
)

// Version is set at build time with -ldflags "-X .../botstate/app.Version=...".
var Version = "dev"

// Service describes one botserver-go service. Each service module exports
// one; it must not depend on any other service module.
type Service struct {
	Name    string      // binary and module name, e.g. "botchat"
	Health  string      // gRPC service name reported through health, e.g. "bot.chat.v1.ChatService"
	Schemas []pg.Schema // Postgres schemas it owns, migrated in order at start
	// Settings is an optional pointer to the service's own settings struct
	// (env tags, see botstate/config); it is loaded and validated with Base.
	Settings any
	// Policy says who may call each of the service's gRPC methods; the
	// token-verifying interceptor enforces it (see botstate/authz).
	Policy authz.Policy
	// Setup registers gRPC handlers on env.GRPC and adds the service's
	// background units with env.AddUnit. It must not block.
	Setup func(ctx context.Context, env *Env) error
	// Commands are extra command-line commands ("<binary> <name> args...",
	// e.g. botauth's bootstrap). They run after settings are loaded and
	// schemas migrated, with an Env that has Service, Base, Log, DB and
	// AuthSettings only (no servers, bus, cache or clients).
	Commands map[string]Command
}

// Command is a service's command-line command; args follow its name.
type Command func(ctx context.Context, env *Env, args []string) error

// Short is the name without the "bot" prefix: "chat" for "botchat". It names
// the service's event stream and subjects (bot.<short>.>).
func (s *Service) Short() string { return strings.TrimPrefix(s.Name, "bot") }

// Env is what a service's Setup gets: the process's shared resources.
type Env struct {
	Service *Service
	Base    *config.Base
	Log     *slog.Logger
	DB      *pgxpool.Pool // nil when the service owns no schema
	Cache   cache.Cache
	Bus     *events.Bus
	GRPC    grpc.ServiceRegistrar // register handlers here: on the listener and the in-process channel
	Clients *grpcx.Clients        // connections to other services by name ("botauth")
	Metrics *prometheus.Registry
	Ready   func() bool // true between start and the beginning of the drain
	// Auth verifies tokens: it guards every gRPC method of the process and
	// wraps HTTP handlers with Auth.HTTP(rule, h).
	Auth *authz.Guard
	// AuthSettings are the AUTH_* settings (issuer, JWKS source).
	AuthSettings *authz.Settings

	runner *lifecycle.Runner
}

// AddUnit adds a unit owned by this service, named "<service>/<name>". It
// starts once the servers listen and stops before they do, so the drain
// sequence stops handlers before the gRPC server's GracefulStop. Deps name
// other units of the same service.
func (e *Env) AddUnit(u lifecycle.Unit) error {
	deps := []string{serversUnit}
	for _, d := range u.Deps {
		deps = append(deps, e.Service.Name+"/"+d)
	}
	u.Name, u.Deps = e.Service.Name+"/"+u.Name, deps
	return e.runner.Add(u)
}

const serversUnit = "servers"

// Options change how Run builds the process; the zero value is right for a
// service binary.
type Options struct {
	// EmbedNATS, when set, provides the NATS server if NATS_URL is unset
	// (natsembed.Connect in the all-in-one). Service binaries leave it nil:
	// each needs the shared NATS, and embedding one would silently keep
	// their events from every other process.
	EmbedNATS func(ctx context.Context, dataDir, name string, log *slog.Logger) (*events.Bus, error)
	// Environ replaces os.Environ() as the source of settings ("KEY=value"),
	// so tests can run several processes' worth of services in one.
	Environ []string
	// Started, when set, is called once every unit has started, with the
	// bound addresses (useful with ":0" listeners).
	Started func(Addrs)
}

// Addrs are the addresses a running process listens on.
type Addrs struct{ GRPC, Ops string }

// DefaultGOGC is the collector's target when GOGC is unset. The services'
// live heaps are small (tens of MB) and their garbage per request high: at
// Go's default of 100 the all-in-one spent 13-14 % of a chat turn's CPU
// collecting, at 400 about 4 %, for a heap up to five times the live one.
// GOGC, and GOMEMLIMIT for containers, still decide when set.
const DefaultGOGC = 400

// tuneGC applies DefaultGOGC unless GOGC is set and returns the percent in
// force.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(DefaultGOGC)
	return DefaultGOGC
}

// Main runs services with os.Args and exits with the right status.
func Main(opts Options, services ...*Service) {
	tuneGC(os.Getenv)
	if err := Run(context.Background(), os.Args[1:], opts, services...); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", binaryName(services), err)
		os.Exit(1)
	}
}

// Run is Main without the exit. Commands: serve (the default), migrate
// (migrate the schemas and exit), settings (print the settings table), and
// the services' own Commands.
func Run(ctx context.Context, args []string, opts Options, services ...*Service) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if len(services) == 0 {
		return errors.New("no services to run")
	}
	owner, custom, err := findCommand(cmd, services)
	if err != nil {
		return err
	}
	if len(args) > 1 && custom == nil {
		return fmt.Errorf("unexpected arguments after %s: %q", cmd, args[1:])
	}
	base := &config.Base{}
	auth := &authz.Settings{}
	targets := []any{base, auth}
	for _, s := range services {
		if s.Settings != nil {
			targets = append(targets, s.Settings)
		}
	}
	switch cmd {
	case "serve", "migrate":
	case "settings":
		fmt.Print(SettingsTable(services...))
		return nil
	default:
		if custom == nil {
			return fmt.Errorf("unknown command %q: use serve (the default), migrate, settings%s", cmd, commandList(services))
		}
	}
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	if err := config.LoadFrom(environ, targets...); err != nil {
		return err
	}
	if cmd == "serve" && base.NATSURL == "" && opts.EmbedNATS == nil {
		return errors.New("NATS_URL is not set: a service binary needs the shared NATS server with JetStream (only the all-in-one botserver embeds one)")
	}
	log := logx.New(os.Stderr, base.LogFormat, base.LogLevel).With("bin", binaryName(services))
	slog.SetDefault(log)
	if err := migrateAll(ctx, log, base, services); err != nil {
		return err
	}
	if cmd == "migrate" {
		return nil
	}
	if custom != nil {
		return runCommand(ctx, log, base, auth, owner, custom, args[1:])
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, log, base, auth, opts, services)
}

var builtinCommands = []string{"serve", "migrate", "settings"}

// findCommand returns the service that defines cmd and its Command (nil
// for the built-in commands and unknown names).
func findCommand(cmd string, services []*Service) (*Service, Command, error) {
	var owner *Service
	var found Command
	for _, s := range services {
		for name, c := range s.Commands {
			if slices.Contains(builtinCommands, name) || c == nil {
				return nil, nil, fmt.Errorf("%s: command %q is built in or has no function", s.Name, name)
			}
			if name != cmd {
				continue
			}
			if owner != nil {
				return nil, nil, fmt.Errorf("command %q is defined by both %s and %s", cmd, owner.Name, s.Name)
			}
			owner, found = s, c
		}
	}
	return owner, found, nil
}

func commandList(services []*Service) string {
	var names []string
	for _, s := range services {
		for name := range s.Commands {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return ""
	}
	return ", " + strings.Join(names, ", ")
}

// runCommand runs a service's command with a pool on its schemas.
func runCommand(ctx context.Context, log *slog.Logger, base *config.Base, auth *authz.Settings, s *Service, c Command, args []string) error {
	env := &Env{Service: s, Base: base, Log: log.With("service", s.Name), AuthSettings: auth}
	if len(s.Schemas) > 0 {
		pool, err := pg.Open(ctx, base.DatabaseURL, base.DBMaxConns)
		if err != nil {
			return err
		}
		defer pool.Close()
		env.DB = pool
	}
	return c(ctx, env, args)
}

// SettingsTable documents the settings of the given services as Markdown:
// the shared ones first, then each service's own.
func SettingsTable(services ...*Service) string {
	groups := [][]config.Setting{config.Describe(&config.Base{}), config.Describe(&authz.Settings{}), {{Name: config.FileVar, Description: "Optional YAML file of settings (a flat map of the names below); the environment wins over it."}}}
	for _, s := range services {
		if s.Settings != nil {
			groups = append(groups, config.Describe(s.Settings))
		}
	}
	return config.Markdown(groups...)
}

func migrateAll(ctx context.Context, log *slog.Logger, base *config.Base, services []*Service) error {
	for _, s := range services {
		if len(s.Schemas) > 0 && base.DatabaseURL == "" {
			return fmt.Errorf("DATABASE_URL is not set: %s keeps its data in Postgres (schema %s)", s.Name, s.Schemas[0].Name)
		}
		for _, sc := range s.Schemas {
			res, err := pg.Migrate(ctx, base.DatabaseURL, sc)
			if err != nil {
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			if res.AlreadyMoved {
				log.Info("schema up to date", "service", s.Name, "schema", sc.Name, "version", res.To)
			} else {
				log.Info("schema migrated", "service", s.Name, "schema", sc.Name, "from", res.From, "to", res.To)
			}
		}
	}
	return nil
}

func serve(ctx context.Context, log *slog.Logger, base *config.Base, authSettings *authz.Settings, opts Options, services []*Service) (err error) {
	name := binaryName(services)
	ready := &lifecycle.Flag{}
	r := &lifecycle.Runner{Log: log, DrainDelay: base.DrainDelay, Timeout: base.ShutdownTimeout}
	// Until the runner runs, a failure closes what was opened so far.
	running := false
	defer func() {
		if err != nil && !running {
			err = errors.Join(err, r.Shutdown())
		}
	}()

	stopTracing, err := telemetry.Setup(ctx, name, Version, base.OTLPEndpoint)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	r.Adopt("telemetry", stopTracing)

	var pool *pgxpool.Pool
	if base.DatabaseURL != "" {
		if pool, err = pg.Open(ctx, base.DatabaseURL, base.DBMaxConns); err != nil {
			return err
		}
		r.Adopt("postgres", func(context.Context) error { pool.Close(); return nil })
	}
	c, err := cache.New(ctx, base.RedisURL, "botserver:")
	if err != nil {
		return err
	}
	r.Adopt("cache", func(context.Context) error { return c.Close() })
	var bus *events.Bus
	if base.NATSURL == "" && opts.EmbedNATS != nil {
		bus, err = opts.EmbedNATS(ctx, base.DataDir, name, log)
	} else {
		bus, err = events.Connect(ctx, base.NATSURL, name, log)
	}
	if err != nil {
		return err
	}
	r.Adopt("nats", func(context.Context) error { bus.Close(); return nil })

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var clients *grpcx.Clients // set below, once the gRPC address is known
	guard, tokens, err := newGuard(log, name, base, authSettings, func() *grpcx.Clients { return clients })
	if err != nil {
		return err
	}
	for _, s := range services {
		if err := guard.Add(s.Policy); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	gs := grpcx.NewServer(grpcx.ServerOptions{Log: log, DefaultTimeout: base.GRPCTimeout, Metrics: reg, Tracing: base.OTLPEndpoint != "",
		Unary: []grpc.UnaryServerInterceptor{guard.UnaryServerInterceptor()}, Stream: []grpc.StreamServerInterceptor{guard.StreamServerInterceptor()}})
	grpcAddr, err := gs.Listen(base.GRPCAddr)
	if err != nil {
		return err
	}
	ops := httpx.NewServer(httpx.OpsHandler(ready.Ready, reg, base.Pprof))
	// A start that fails from here on gives its ports back (the units that
	// would close them never ran).
	defer func() {
		if err != nil && !running {
			_ = gs.Close()
			_ = ops.Close()
		}
	}()
	opsAddr, err := ops.Listen(base.OpsAddr)
	if err != nil {
		return err
	}
	clients = grpcx.NewClients(base.Addrs, base.GRPCTimeout, grpcx.ClientInterceptors{
		Unary: []grpc.UnaryClientInterceptor{tokens.UnaryClientInterceptor()}, Stream: []grpc.StreamClientInterceptor{tokens.StreamClientInterceptor()}})
	self := dialable(grpcAddr)
	for _, s := range services {
		if base.GRPCInProcess {
			clients.SetLocal(s.Name, gs.Local())
		} else {
			clients.SetAddr(s.Name, self)
		}
	}
	r.Adopt("grpc-clients", func(context.Context) error { return clients.Close() })

	for _, u := range []lifecycle.Unit{
		gs.Unit("grpc"), ops.Unit("ops-http"),
		{Name: serversUnit, Deps: []string{"grpc", "ops-http"}},
	} {
		if err := r.Add(u); err != nil {
			return err
		}
	}
	for _, s := range services {
		if s.Health != "" {
			gs.AddHealthName(s.Health)
		}
		env := &Env{Service: s, Base: base, Log: log.With("service", s.Name), Cache: c, Bus: bus,
			GRPC: gs, Clients: clients, Metrics: reg, Ready: ready.Ready, runner: r,
			Auth: guard, AuthSettings: authSettings}
		if len(s.Schemas) > 0 {
			env.DB = pool
		}
		if err := env.addEvents(ctx); err != nil {
			return err
		}
		if s.Setup != nil {
			if err := s.Setup(ctx, env); err != nil {
				return fmt.Errorf("%s setup: %w", s.Name, err)
			}
		}
	}
	r.Readiness = []lifecycle.Readiness{gs, ready}
	if err := r.Start(ctx); err != nil {
		return err
	}
	running = true
	if opts.Started != nil {
		opts.Started(Addrs{GRPC: self, Ops: dialable(opsAddr)})
	}
	log.Info("serving", "grpc", grpcAddr.String(), "ops", opsAddr.String(), "services", names(services), "version", Version)
	return r.Wait(ctx)
}

// jwksMethod is botauth's GetJwks. Its response is wire-compatible with
// StringValue, so botstate does not import botauth's proto package.
const jwksMethod = "/bot.auth.v1.AuthService/GetJwks"

// newGuard builds the process's token verifier and its service tokens.
func newGuard(log *slog.Logger, name string, base *config.Base, s *authz.Settings, clients func() *grpcx.Clients) (*authz.Guard, *authz.ServiceTokens, error) {
	var key *authz.Key
	var err error
	if s.ServiceKey != "" {
		key, err = authz.ParseServiceKey(s.ServiceKey)
	} else {
		if key, err = authz.NewKey(); err == nil {
			key.ID = "svc-" + key.ID
		}
		if len(base.Addrs) > 0 {
			log.Warn("AUTH_SERVICE_KEY is not set: services in other processes (SERVICE_ADDRS) will refuse this process's calls")
		}
	}
	if err != nil {
		return nil, nil, err
	}
	keys := func(ctx context.Context) ([]byte, error) {
		cc, err := clients().Conn("botauth")
		if err != nil {
			return nil, fmt.Errorf("set AUTH_JWKS, or run botauth in this process or list it in SERVICE_ADDRS: %w", err)
		}
		var out wrapperspb.StringValue
		if err := cc.Invoke(ctx, jwksMethod, &emptypb.Empty{}, &out); err != nil {
			return nil, fmt.Errorf("botauth GetJwks: %w", err)
		}
		return []byte(out.Value), nil
	}
	static, err := s.StaticJWKS()
	if err != nil {
		return nil, nil, err
	}
	if static != nil {
		keys = authz.StaticKeys(static)
	}
	v := authz.NewVerifier(authz.VerifierOptions{Issuer: s.Issuer, Keys: keys, Refresh: s.JWKSRefresh, ServiceKeys: []*authz.Key{key}})
	return authz.NewGuard(v), authz.NewServiceTokens(name, s.Issuer, key), nil
}

// addEvents gives the service its event stream and, when it owns a schema,
// the relay that publishes its outbox.
func (e *Env) addEvents(ctx context.Context) error {
	if _, err := events.EnsureStream(ctx, e.Bus.JS, e.Service.Short()); err != nil {
		return fmt.Errorf("%s: event stream: %w", e.Service.Name, err)
	}
	if e.DB == nil {
		return nil
	}
	relay, err := events.NewRelay(e.DB, e.Bus.JS, e.Service.Schemas[0].Name, events.RelayOptions{Log: e.Log})
	if err != nil {
		return err
	}
	return e.AddUnit(lifecycle.Unit{Name: "outbox-relay", Start: relay.Start, Stop: relay.Stop})
}

// dialable turns a bound listener address into one a client can dial:
// a wildcard host becomes loopback.
func dialable(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func names(services []*Service) []string {
	out := make([]string, len(services))
	for i, s := range services {
		out[i] = s.Name
	}
	return out
}

func binaryName(services []*Service) string {
	if len(services) == 1 {
		return services[0].Name
	}
	return "botserver"
}
