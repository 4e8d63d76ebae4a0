// Package grpcx builds gRPC servers and clients the same way in every
// service: standard health service and reflection, interceptors for panic
// recovery, logging, Prometheus metrics and default deadlines, and
// OpenTelemetry propagation over gRPC metadata.
package grpcx

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/fullstorydev/grpchan"
	"github.com/fullstorydev/grpchan/inprocgrpc"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botstate/lifecycle"
)

// ServerOptions configure NewServer.
type ServerOptions struct {
	Log            *slog.Logger
	DefaultTimeout time.Duration         // applied to calls that arrive without a deadline
	Metrics        prometheus.Registerer // optional
	// Unary and Stream run last, just before the handler, after logging and
	// recovery (so their refusals are logged and counted): the app
	// framework puts the authz Guard here.
	Unary  []grpc.UnaryServerInterceptor
	Stream []grpc.StreamServerInterceptor
	// Tracing is true when spans are exported. Without it, calls through
	// Local carry the caller's span context to the handler directly instead
	// of through otelgrpc's per-call spans, which nobody would read.
	Tracing bool
}

// Server is a gRPC server with health and reflection registered. Every
// health name it was told about reports NOT_SERVING until SetReady(true).
//
// Services registered with RegisterService are also reachable through
// Local, an in-process channel: the same server interceptors (request id,
// metrics, logging, recovery, deadlines, authz) and stats handler run, but
// messages are cloned instead of encoded and cross no HTTP/2 connection.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
	log    *slog.Logger

	local    *inprocgrpc.Channel
	localReg grpc.ServiceRegistrar
	calls    *localCalls

	mu    sync.Mutex
	names []string
	lis   net.Listener
	done  chan error
}

// NewServer builds the server; register services on s.GRPC, then Listen and Start.
func NewServer(o ServerOptions) *Server {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	unary := []grpc.UnaryServerInterceptor{}
	stream := []grpc.StreamServerInterceptor{}
	if o.Metrics != nil {
		m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
		o.Metrics.MustRegister(m)
		unary = append(unary, m.UnaryServerInterceptor())
		stream = append(stream, m.StreamServerInterceptor())
	}
	rec := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in gRPC handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	// The request id goes first so every later interceptor's logs carry it.
	unary = append([]grpc.UnaryServerInterceptor{requestIDUnary}, unary...)
	stream = append([]grpc.StreamServerInterceptor{requestIDStream}, stream...)
	unary = append(unary,
		callLog{log}.unary,
		recovery.UnaryServerInterceptor(rec),
		deadlineUnary(o.DefaultTimeout))
	stream = append(stream,
		callLog{log}.stream,
		recovery.StreamServerInterceptor(rec))
	unary = append(unary, o.Unary...)
	stream = append(stream, o.Stream...)
	calls := newLocalCalls()
	local := new(inprocgrpc.Channel).WithCloner(wireCloner{})
	localUnary := []grpc.UnaryServerInterceptor{calls.unary}
	localStream := []grpc.StreamServerInterceptor{calls.stream}
	if o.Tracing {
		local = local.WithServerStatsHandler(otelgrpc.NewServerHandler()).WithClientStatsHandler(otelgrpc.NewClientHandler())
	} else {
		localUnary = append(localUnary, callerSpanUnary)
		localStream = append(localStream, callerSpanStream)
	}
	s := &Server{
		GRPC: grpc.NewServer(
			grpc.StatsHandler(otelgrpc.NewServerHandler()),
			// Connections are recycled so clients re-resolve and spread over
			// replicas added since they connected; in-flight calls get a grace.
			grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 5 * time.Minute, MaxConnectionAgeGrace: time.Minute}),
			grpc.ChainUnaryInterceptor(unary...),
			grpc.ChainStreamInterceptor(stream...),
			// Larger windows and buffers: file streams between the gateway
			// and botdrive otherwise stall on 64 KiB flow-control windows.
			grpc.InitialWindowSize(WindowSize),
			grpc.InitialConnWindowSize(2*WindowSize),
			grpc.WriteBufferSize(BufferSize),
			grpc.ReadBufferSize(BufferSize),
		),
		Health: health.NewServer(),
		log:    log,
		local:  local,
		calls:  calls,
	}
	// Local calls are counted first, so a stop can wait for them as
	// GracefulStop waits for the network's.
	s.localReg = grpchan.WithStreamInterceptors(grpchan.WithUnaryInterceptors(local,
		append(localUnary, unary...)...), append(localStream, stream...)...)
	s.RegisterService(&healthpb.Health_ServiceDesc, s.Health)
	reflection.Register(s.GRPC)
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// RegisterService registers a service on the network server and on the
// in-process channel, so Server implements grpc.ServiceRegistrar.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.GRPC.RegisterService(desc, impl)
	s.localReg.RegisterService(desc, impl)
}

// Local is a connection to this server's services that stays in the
// process. Wrap it with the client interceptors a network connection would
// have (Clients.SetLocal does).
func (s *Server) Local() grpc.ClientConnInterface { return s.local }

// AddHealthName declares a health service name (e.g. "bot.chat.v1.ChatService").
func (s *Server) AddHealthName(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names = append(s.names, name)
	s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
}

// SetReady reports every declared name, and the server as a whole, as
// SERVING or NOT_SERVING. It implements lifecycle.Readiness.
func (s *Server) SetReady(ready bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Health.SetServingStatus("", st)
	for _, n := range s.names {
		s.Health.SetServingStatus(n, st)
	}
}

// Listen binds addr now, so a taken port fails at start, and returns the
// bound address (useful with ":0").
func (s *Server) Listen(addr string) (net.Addr, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gRPC listen %s: %w", addr, err)
	}
	s.lis = lis
	return lis.Addr(), nil
}

// Close releases the listener of a server whose Unit will not start (a
// later start-up step failed). A started server is stopped by its Unit;
// closing its listener again only returns an error.
func (s *Server) Close() error {
	if s.lis == nil {
		return nil
	}
	return s.lis.Close()
}

// Unit wraps the server for a lifecycle runner: Start serves on the bound
// listener; Stop is GracefulStop, forced when ctx's deadline passes.
func (s *Server) Unit(name string, deps ...string) lifecycle.Unit {
	return lifecycle.Unit{
		Name: name, Deps: deps,
		Start: func(ctx context.Context) error {
			if s.lis == nil {
				return fmt.Errorf("gRPC server: Listen was not called")
			}
			s.done = make(chan error, 1)
			go func() {
				err := s.GRPC.Serve(s.lis)
				if err != nil && err != grpc.ErrServerStopped {
					lifecycle.Fail(ctx, fmt.Errorf("gRPC server: %w", err))
				}
				s.done <- err
			}()
			return nil
		},
		Stop: func(ctx context.Context) error {
			stopped := make(chan struct{})
			go func() { s.GRPC.GracefulStop(); <-s.calls.stop(); close(stopped) }()
			select {
			case <-stopped:
				return nil
			case <-ctx.Done():
				s.GRPC.Stop()
				s.calls.cancel()
				<-stopped
				return fmt.Errorf("gRPC graceful stop: deadline passed, in-flight calls were cancelled")
			}
		},
	}
}

// deadlineUnary gives calls without a deadline the default one, so a stuck
// dependency cannot hold a handler forever.
func deadlineUnary(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if _, ok := ctx.Deadline(); !ok && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return h(ctx, req)
	}
}
