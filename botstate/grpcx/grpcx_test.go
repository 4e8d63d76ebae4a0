package grpcx_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botserver-go/botserver-go/botstate/grpcx"
	"github.com/botserver-go/botserver-go/botstate/lifecycle"
	"github.com/botserver-go/botserver-go/botstate/logx"
	"github.com/botserver-go/botserver-go/botstate/telemetry"
)

// probe is a hand-written service: Panic panics, Deadline reports how long
// the handler had left.
var probe = &grpc.ServiceDesc{
	ServiceName: "test.Probe", HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Panic", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			h := func(context.Context, any) (any, error) { panic("secret internals") }
			return ic(ctx, &emptypb.Empty{}, &grpc.UnaryServerInfo{FullMethod: "/test.Probe/Panic"}, h)
		}},
		{MethodName: "RequestID", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			h := func(ctx context.Context, _ any) (any, error) { return wrapperspb.String(logx.RequestID(ctx)), nil }
			return ic(ctx, &emptypb.Empty{}, &grpc.UnaryServerInfo{FullMethod: "/test.Probe/RequestID"}, h)
		}},
		{MethodName: "TraceID", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			h := func(ctx context.Context, _ any) (any, error) {
				return wrapperspb.String(trace.SpanContextFromContext(ctx).TraceID().String()), nil
			}
			return ic(ctx, &emptypb.Empty{}, &grpc.UnaryServerInfo{FullMethod: "/test.Probe/TraceID"}, h)
		}},
		{MethodName: "Block", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			h := func(ctx context.Context, _ any) (any, error) {
				blockEntered <- struct{}{}
				<-ctx.Done()
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			return ic(ctx, &emptypb.Empty{}, &grpc.UnaryServerInfo{FullMethod: "/test.Probe/Block"}, h)
		}},
		{MethodName: "Deadline", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			h := func(ctx context.Context, _ any) (any, error) {
				d, ok := ctx.Deadline()
				if !ok {
					return durationpb.New(-1), nil
				}
				return durationpb.New(time.Until(d)), nil
			}
			return ic(ctx, &emptypb.Empty{}, &grpc.UnaryServerInfo{FullMethod: "/test.Probe/Deadline"}, h)
		}},
	},
}

// localConn is a Clients connection to srv through its in-process channel,
// with the client default deadline timeout.
func localConn(t *testing.T, srv *grpcx.Server, timeout time.Duration) grpc.ClientConnInterface {
	t.Helper()
	c := grpcx.NewClients(nil, timeout, grpcx.ClientInterceptors{})
	c.SetLocal("probe", srv.Local())
	cc, err := c.Conn("probe")
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

// blockEntered hears from every Block call once its handler runs.
var blockEntered = make(chan struct{}, 8)

func start(t *testing.T, timeout time.Duration) (*grpcx.Server, string) {
	return startWith(t, grpcx.ServerOptions{DefaultTimeout: timeout})
}

func startWith(t *testing.T, o grpcx.ServerOptions) (*grpcx.Server, string) {
	t.Helper()
	s := grpcx.NewServer(o)
	s.RegisterService(probe, struct{}{})
	s.AddHealthName("test.Probe")
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := s.Unit("grpc")
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Stop(context.Background()) })
	return s, addr.String()
}

// Every behaviour holds the same whether a call crosses the network or
// stays in the process through Server.Local.
func TestServerBehaviour(t *testing.T) {
	for _, path := range []string{"network", "in-process", "in-process with tracing"} {
		t.Run(path, func(t *testing.T) {
			srv, addr := startWith(t, grpcx.ServerOptions{DefaultTimeout: 3 * time.Second, Tracing: path == "in-process with tracing"})
			var cc, raw grpc.ClientConnInterface
			if path == "network" {
				conn, err := grpcx.Dial(addr, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				rawConn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecureCreds()))
				if err != nil {
					t.Fatal(err)
				}
				defer rawConn.Close()
				cc, raw = conn, rawConn
			} else {
				cc, raw = localConn(t, srv, time.Second), srv.Local()
			}
			serverBehaviour(t, srv, cc, raw)
		})
	}
}

// A stop treats in-process calls as GracefulStop treats the network's: the
// running ones may finish, new ones are refused, and the deadline cancels
// what is left.
func TestStopDrainsLocalCalls(t *testing.T) {
	srv, _ := start(t, time.Minute)
	cc := localConn(t, srv, time.Minute)
	ctx := context.Background()
	blocked := make(chan error, 1)
	go func() { blocked <- cc.Invoke(ctx, "/test.Probe/Block", &emptypb.Empty{}, &emptypb.Empty{}) }()
	<-blockEntered

	stopCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Unit("grpc").Stop(stopCtx) }()
	// While the stop waits for Block, a new call is refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := cc.Invoke(ctx, "/test.Probe/Deadline", &emptypb.Empty{}, &durationpb.Duration{})
		if status.Code(err) == codes.Unavailable {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("a call during the stop: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-blocked:
		t.Fatalf("the running call ended before the stop's deadline: %v", err)
	default:
	}
	if err := <-stopped; err == nil || !strings.Contains(err.Error(), "deadline passed") {
		t.Fatalf("stop: %v", err)
	}
	if err := <-blocked; status.Code(err) != codes.Canceled {
		t.Fatalf("the running call after the deadline: %v", err)
	}
}

// serverBehaviour checks srv through cc (a Clients connection, default
// deadline 1s) and raw (no client interceptors).
func serverBehaviour(t *testing.T, srv *grpcx.Server, cc, raw grpc.ClientConnInterface) {
	var _ lifecycle.Readiness = srv
	ctx := context.Background()

	// A panic is an Internal error that does not leak the panic's text.
	err := cc.Invoke(ctx, "/test.Probe/Panic", &emptypb.Empty{}, &emptypb.Empty{})
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "secret") {
		t.Fatalf("panic: %v", err)
	}

	// The client's default deadline (1s) reaches the server; without the
	// client's, the server's default (3s) applies.
	var left durationpb.Duration
	if err := cc.Invoke(ctx, "/test.Probe/Deadline", &emptypb.Empty{}, &left); err != nil {
		t.Fatal(err)
	}
	if d := left.AsDuration(); d <= 0 || d > time.Second {
		t.Fatalf("client default deadline: handler had %s", d)
	}
	if err := raw.Invoke(ctx, "/test.Probe/Deadline", &emptypb.Empty{}, &left); err != nil {
		t.Fatal(err)
	}
	if d := left.AsDuration(); d <= time.Second || d > 3*time.Second {
		t.Fatalf("server default deadline: handler had %s", d)
	}

	// The caller's request id reaches the handler's context (and its logs);
	// a malformed one is dropped.
	var got wrapperspb.StringValue
	if err := cc.Invoke(logx.WithRequestID(ctx, "req-42"), "/test.Probe/RequestID", &emptypb.Empty{}, &got); err != nil || got.Value != "req-42" {
		t.Fatalf("request id: %q %v", got.Value, err)
	}
	// A reply read into another message type with the same wire format
	// arrives as the network would deliver it.
	var asBytes wrapperspb.BytesValue
	if err := cc.Invoke(logx.WithRequestID(ctx, "req-7"), "/test.Probe/RequestID", &emptypb.Empty{}, &asBytes); err != nil || string(asBytes.Value) != "req-7" {
		t.Fatalf("wire-compatible reply: %q %v", asBytes.Value, err)
	}
	bad := metadata.AppendToOutgoingContext(ctx, "x-request-id", "spaces and {braces} are not an id")
	if err := raw.Invoke(bad, "/test.Probe/RequestID", &emptypb.Empty{}, &got); err != nil || got.Value != "" {
		t.Fatalf("malformed request id kept: %q %v", got.Value, err)
	}

	// Trace context crosses gRPC metadata: the handler's span is in the
	// caller's trace.
	stopTracing, err := telemetry.Setup(ctx, "grpcx-test", "test", "")
	if err != nil {
		t.Fatal(err)
	}
	defer stopTracing(ctx)
	spanCtx, span := otel.Tracer("test").Start(ctx, "caller")
	if err := cc.Invoke(spanCtx, "/test.Probe/TraceID", &emptypb.Empty{}, &got); err != nil {
		t.Fatal(err)
	}
	span.End()
	if want := span.SpanContext().TraceID().String(); got.Value != want {
		t.Fatalf("server trace id %s, caller's %s", got.Value, want)
	}

	// Health: NOT_SERVING until ready, for the named service and overall.
	h := healthpb.NewHealthClient(cc)
	for _, ready := range []bool{false, true, false} {
		srv.SetReady(ready)
		want := healthpb.HealthCheckResponse_NOT_SERVING
		if ready {
			want = healthpb.HealthCheckResponse_SERVING
		}
		for _, name := range []string{"", "test.Probe"} {
			st, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
			if err != nil || st.Status != want {
				t.Fatalf("health %q ready=%v: %v %v", name, ready, st, err)
			}
		}
	}
}

func TestClientsNameTheMissingService(t *testing.T) {
	c := grpcx.NewClients(map[string]string{"botauth": "127.0.0.1:1"}, time.Second, grpcx.ClientInterceptors{})
	defer c.Close()
	if _, err := c.Conn("botauth"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Conn("botmail")
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "botmail is not available") {
		t.Fatalf("got %v", err)
	}
	if got := strings.Join(c.Names(), ","); got != "botauth" {
		t.Fatalf("names %s", got)
	}
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }
