package grpcx

import (
	"context"
	"sync"

	"github.com/fullstorydev/grpchan/inprocgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// localCalls does for calls through the in-process channel what
// GracefulStop does for the network's: once stopping, new calls are refused
// with Unavailable and stop's channel closes when the running ones have
// returned; cancel cancels those still running when the deadline passes.
type localCalls struct {
	mu       sync.Mutex
	running  int
	stopping bool
	idle     chan struct{}
	kill     context.Context
	cancel   context.CancelFunc
}

func newLocalCalls() *localCalls {
	c := &localCalls{idle: make(chan struct{})}
	c.kill, c.cancel = context.WithCancel(context.Background())
	return c
}

var errStopping = status.Error(codes.Unavailable, "the server is stopping")

// enter counts a call in and returns its context, cancelled by cancel, and
// the function that counts it out.
func (c *localCalls) enter(ctx context.Context) (context.Context, func(), error) {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return nil, nil, errStopping
	}
	c.running++
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(c.kill, cancel)
	return ctx, func() {
		unhook()
		cancel()
		c.mu.Lock()
		c.running--
		if c.stopping && c.running == 0 {
			close(c.idle)
		}
		c.mu.Unlock()
	}, nil
}

// stop refuses new calls; the channel closes once none is running.
func (c *localCalls) stop() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopping {
		c.stopping = true
		if c.running == 0 {
			close(c.idle)
		}
	}
	return c.idle
}

func (c *localCalls) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, leave, err := c.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	return h(ctx, req)
}

func (c *localCalls) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, leave, err := c.enter(ss.Context())
	if err != nil {
		return err
	}
	defer leave()
	return h(srv, idStream{ss, ctx})
}

// wireCloner copies messages between an in-process client and server as the
// network would deliver them: a deep copy when both sides use the same
// message type, and a marshal round trip when the types differ but share a
// wire format (botstate reads botauth's GetJwks into a StringValue).
type wireCloner struct{}

func (wireCloner) Copy(out, in any) error {
	o, okOut := out.(proto.Message)
	i, okIn := in.(proto.Message)
	if !okOut || !okIn {
		return status.Errorf(codes.Internal, "in-process gRPC carries protobuf messages, not %T into %T", in, out)
	}
	if o.ProtoReflect().Descriptor() == i.ProtoReflect().Descriptor() {
		proto.Reset(o)
		proto.Merge(o, i)
		return nil
	}
	b, err := proto.Marshal(i)
	if err != nil {
		return status.Errorf(codes.Internal, "in-process gRPC: %v", err)
	}
	if err := proto.Unmarshal(b, o); err != nil {
		return status.Errorf(codes.Internal, "in-process gRPC: %v", err)
	}
	return nil
}

func (wireCloner) Clone(in any) (any, error) {
	m, ok := in.(proto.Message)
	if !ok {
		return nil, status.Errorf(codes.Internal, "in-process gRPC carries protobuf messages, not %T", in)
	}
	return proto.Clone(m), nil
}

// callerSpanUnary and callerSpanStream give a local call's handler the
// caller's span context when spans are not exported: trace ids still reach
// every service's logs, without otelgrpc's two spans per call.
func callerSpanUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(withCallerSpan(ctx), req)
}

func callerSpanStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, idStream{ss, withCallerSpan(ss.Context())})
}

func withCallerSpan(ctx context.Context) context.Context {
	if sc := trace.SpanContextFromContext(inprocgrpc.ClientContext(ctx)); sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}
