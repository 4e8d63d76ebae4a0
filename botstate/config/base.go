package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Base holds the settings every service reads. Service-specific settings
// live in the service's own struct, loaded with the same Load call.
type Base struct {
	DatabaseURL     string            `env:"DATABASE_URL" desc:"Postgres URL. Required by every service that owns a schema."`
	DBMaxConns      int32             `env:"DB_MAX_CONNS" envDefault:"20" desc:"Postgres connections the process may open (shared by its services); pool_max_conns in DATABASE_URL wins. Size it to what Postgres allows divided by the replicas."`
	NATSURL         string            `env:"NATS_URL" desc:"NATS server with JetStream. Unset: the all-in-one embeds nats-server; a service binary refuses to start."`
	RedisURL        string            `env:"REDIS_URL" desc:"Redis URL for the shared cache. Unset: an in-process cache."`
	DataDir         string            `env:"DATA_DIR" envDefault:".data" desc:"Local state: embedded NATS store, local files."`
	GRPCAddr        string            `env:"GRPC_ADDR" envDefault:":9090" desc:"gRPC listen address (one listener for every service in the process)."`
	OpsAddr         string            `env:"OPS_ADDR" envDefault:":9091" desc:"Operations HTTP listen address: /healthz, /readyz, /metrics."`
	Pprof           bool              `env:"OPS_PPROF" envDefault:"false" desc:"Serve Go's profiles at /debug/pprof/ on OPS_ADDR (CPU, heap, goroutines) for finding where time goes."`
	LogLevel        string            `env:"LOG_LEVEL" envDefault:"info" desc:"debug, info, warn or error."`
	LogFormat       string            `env:"LOG_FORMAT" envDefault:"json" desc:"json or text."`
	OTLPEndpoint    string            `env:"OTEL_EXPORTER_OTLP_ENDPOINT" desc:"OTLP/gRPC endpoint for traces. Unset: tracing is a no-op (context still propagates)."`
	DrainDelay      time.Duration     `env:"DRAIN_DELAY" envDefault:"2s" desc:"On SIGTERM, time between reporting NOT_SERVING and stopping, so load balancers notice."`
	ShutdownTimeout time.Duration     `env:"SHUTDOWN_TIMEOUT" envDefault:"30s" desc:"Hard deadline for a graceful stop after the drain delay."`
	GRPCInProcess   bool              `env:"GRPC_IN_PROCESS" envDefault:"true" desc:"Calls between services of one process go through an in-process gRPC channel: the same interceptors, authz, deadlines and tracing, without HTTP/2 and the loopback socket. false sends them to GRPC_ADDR like calls from other processes."`
	GRPCTimeout     time.Duration     `env:"GRPC_DEFAULT_TIMEOUT" envDefault:"30s" desc:"Deadline applied to gRPC calls that arrive or leave without one."`
	Addrs           map[string]string `env:"SERVICE_ADDRS" envKeyValSeparator:"=" desc:"gRPC addresses of services outside this process: botauth=botauth:9090,botchat=botchat:9090. In-process services need none."`
}

// Validate checks values that would otherwise fail later and less clearly.
func (b *Base) Validate() error {
	var errs []error
	if b.DatabaseURL != "" {
		if u, err := url.Parse(b.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			errs = append(errs, fmt.Errorf("DATABASE_URL must be a postgres:// URL"))
		}
	}
	if b.DBMaxConns < 1 {
		errs = append(errs, fmt.Errorf("DB_MAX_CONNS must be at least 1"))
	}
	if b.NATSURL != "" && !hasScheme(b.NATSURL, "nats", "tls", "ws", "wss") {
		errs = append(errs, fmt.Errorf("NATS_URL must be a nats:// URL, got %q", Redact(b.NATSURL)))
	}
	if b.RedisURL != "" && !hasScheme(b.RedisURL, "redis", "rediss", "unix") {
		errs = append(errs, fmt.Errorf("REDIS_URL must be a redis:// URL, got %q", Redact(b.RedisURL)))
	}
	for name, addr := range map[string]string{"GRPC_ADDR": b.GRPCAddr, "OPS_ADDR": b.OpsAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", name, addr))
		}
	}
	switch b.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", b.LogLevel))
	}
	if b.LogFormat != "json" && b.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT must be json or text, got %q", b.LogFormat))
	}
	if b.DrainDelay < 0 || b.ShutdownTimeout <= 0 || b.GRPCTimeout <= 0 {
		errs = append(errs, errors.New("DRAIN_DELAY must be >= 0; SHUTDOWN_TIMEOUT and GRPC_DEFAULT_TIMEOUT must be > 0"))
	}
	return errors.Join(errs...)
}

func hasScheme(raw string, schemes ...string) bool {
	for _, one := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil {
			return false
		}
		ok := false
		for _, s := range schemes {
			ok = ok || u.Scheme == s
		}
		if !ok {
			return false
		}
	}
	return true
}

// Redact hides the passwords in a URL, or a comma-separated list of URLs
// (NATS_URL may be one), so it can go into an error or a log.
func Redact(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "<unparseable>"
			continue
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}
