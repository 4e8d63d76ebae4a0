package grpcx

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/fullstorydev/grpchan"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// roundRobin spreads calls over every address the name resolves to (a
// headless Kubernetes Service lists each pod); with one address it is the
// same as gRPC's default pick_first.
// Flow-control window per stream and socket buffer sizes of every
// connection (see the server's options).
const (
	WindowSize = 4 << 20
	BufferSize = 256 << 10
)

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// Dial returns a client connection with tracing, round-robin balancing and a
// default deadline for calls made without one. Connections are lazy: Dial
// does not block. opts add to the defaults (e.g. authz service tokens).
func Dial(addr string, defaultTimeout time.Duration, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(roundRobin),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithInitialWindowSize(WindowSize),
		grpc.WithInitialConnWindowSize(2 * WindowSize),
		grpc.WithWriteBufferSize(BufferSize),
		grpc.WithReadBufferSize(BufferSize),
		grpc.WithChainStreamInterceptor(streamDefaults),
		grpc.WithChainUnaryInterceptor(unaryDefaults(defaultTimeout)),
	}, opts...)...)
}

// streamDefaults and unaryDefaults are what every client connection does
// first: carry the request id and, for unary calls, the default deadline.
func streamDefaults(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(withOutgoingRequestID(ctx), desc, cc, method, opts...)
}

func unaryDefaults(defaultTimeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx = withOutgoingRequestID(ctx)
		if _, ok := ctx.Deadline(); !ok && defaultTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// ClientInterceptors run on every call of the connections Clients hands
// out, after the defaults, whether the call crosses the network or stays in
// the process.
type ClientInterceptors struct {
	Unary  []grpc.UnaryClientInterceptor
	Stream []grpc.StreamClientInterceptor
}

// Clients hands out one shared connection per service name: over the
// network to SERVICE_ADDRS, and to the process's own services either
// through its in-process channel (SetLocal) or its own listener (SetAddr).
type Clients struct {
	timeout time.Duration
	ic      ClientInterceptors
	mu      sync.Mutex
	addrs   map[string]string
	locals  map[string]grpc.ClientConnInterface
	conns   map[string]*grpc.ClientConn
}

// NewClients maps service names (e.g. "botchat") to addresses; ic are added
// to every connection.
func NewClients(addrs map[string]string, defaultTimeout time.Duration, ic ClientInterceptors) *Clients {
	c := &Clients{timeout: defaultTimeout, ic: ic, addrs: map[string]string{}, locals: map[string]grpc.ClientConnInterface{}, conns: map[string]*grpc.ClientConn{}}
	for k, v := range addrs {
		c.addrs[k] = v
	}
	return c
}

// SetAddr adds or replaces a service's address (before its first Conn).
func (c *Clients) SetAddr(name, addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addrs[name] = addr
}

// SetLocal routes a service's calls through ch, an in-process channel
// (Server.Local), wrapped in the same client interceptors as a network
// connection. It wins over an address.
func (c *Clients) SetLocal(name string, ch grpc.ClientConnInterface) {
	c.mu.Lock()
	defer c.mu.Unlock()
	unary := append([]grpc.UnaryClientInterceptor{unaryDefaults(c.timeout)}, c.ic.Unary...)
	stream := append([]grpc.StreamClientInterceptor{streamDefaults}, c.ic.Stream...)
	c.locals[name] = grpchan.InterceptClientConnStream(grpchan.InterceptClientConnUnary(ch, unary...), stream...)
}

// Names lists the services with a known address or channel.
func (c *Clients) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.addrs)+len(c.locals))
	for n := range c.addrs {
		out = append(out, n)
	}
	for n := range c.locals {
		if _, dup := c.addrs[n]; !dup {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Conn returns the connection to a service, or an Unavailable error that
// names the missing setting when the service has no address.
func (c *Clients) Conn(name string) (grpc.ClientConnInterface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.locals[name]; ok {
		return ch, nil
	}
	if cc, ok := c.conns[name]; ok {
		return cc, nil
	}
	addr, ok := c.addrs[name]
	if !ok || addr == "" {
		return nil, status.Errorf(codes.Unavailable, "%s is not available: it does not run in this process and SERVICE_ADDRS has no address for it", name)
	}
	opts := []grpc.DialOption{grpc.WithChainUnaryInterceptor(c.ic.Unary...), grpc.WithChainStreamInterceptor(c.ic.Stream...)}
	cc, err := Dial(addr, c.timeout, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", name, addr, err)
	}
	c.conns[name] = cc
	return cc, nil
}

// Close closes every network connection handed out.
func (c *Clients) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, cc := range c.conns {
		_ = cc.Close()
		delete(c.conns, n)
	}
	return nil
}
