package grpcx

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

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
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(withOutgoingRequestID(ctx), desc, cc, method, opts...)
		}),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			ctx = withOutgoingRequestID(ctx)
			if _, ok := ctx.Deadline(); !ok && defaultTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
				defer cancel()
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
	}, opts...)...)
}

// Clients hands out one shared connection per service name. In the
// all-in-one every in-process service resolves to the process's own
// listener, so calls take the same gRPC path as between pods.
type Clients struct {
	timeout time.Duration
	opts    []grpc.DialOption
	mu      sync.Mutex
	addrs   map[string]string
	conns   map[string]*grpc.ClientConn
}

// NewClients maps service names (e.g. "botchat") to addresses; opts are
// added to every connection's Dial.
func NewClients(addrs map[string]string, defaultTimeout time.Duration, opts ...grpc.DialOption) *Clients {
	c := &Clients{timeout: defaultTimeout, opts: opts, addrs: map[string]string{}, conns: map[string]*grpc.ClientConn{}}
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

// Names lists the services with a known address.
func (c *Clients) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.addrs))
	for n := range c.addrs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Conn returns the connection to a service, or an Unavailable error that
// names the missing setting when the service has no address.
func (c *Clients) Conn(name string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[name]; ok {
		return cc, nil
	}
	addr, ok := c.addrs[name]
	if !ok || addr == "" {
		return nil, status.Errorf(codes.Unavailable, "%s is not available: it does not run in this process and SERVICE_ADDRS has no address for it", name)
	}
	cc, err := Dial(addr, c.timeout, c.opts...)
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", name, addr, err)
	}
	c.conns[name] = cc
	return cc, nil
}

// Close closes every connection handed out.
func (c *Clients) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, cc := range c.conns {
		_ = cc.Close()
		delete(c.conns, n)
	}
	return nil
}
