package authz

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

type callAs struct {
	org string
}

type callAsKey struct{}

// ForOrg marks ctx so calls made with it through a connection with
// ServiceCredentials carry this process's service token and act for orgID.
func ForOrg(ctx context.Context, orgID string) context.Context {
	return context.WithValue(ctx, callAsKey{}, callAs{org: orgID})
}

// AsService marks ctx so calls carry the service token, in no organisation.
func AsService(ctx context.Context) context.Context {
	return context.WithValue(ctx, callAsKey{}, callAs{})
}

// ServiceTokenTTL is the lifetime of service tokens; they are reminted when
// less than a third of it is left.
const ServiceTokenTTL = 5 * time.Minute

// ServiceTokens mints and caches this process's service token.
type ServiceTokens struct {
	name   string
	issuer string
	key    *Key
	now    func() time.Time

	mu    sync.Mutex
	token string
	exp   time.Time
}

// NewServiceTokens mints tokens for the service (or process) name with key.
func NewServiceTokens(name, issuer string, key *Key) *ServiceTokens {
	if issuer == "" {
		issuer = DefaultIssuer
	}
	return &ServiceTokens{name: name, issuer: issuer, key: key, now: time.Now}
}

// Token returns a valid service token.
func (s *ServiceTokens) Token() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.token != "" && s.exp.Sub(now) > ServiceTokenTTL/3 {
		return s.token, nil
	}
	c := NewClaims(s.issuer, &Identity{Kind: KindService, Subject: s.name, Permissions: []string{"*"}}, now, ServiceTokenTTL)
	t, err := s.key.Sign(c)
	if err != nil {
		return "", err
	}
	s.token, s.exp = t, now.Add(ServiceTokenTTL)
	return t, nil
}

// outgoing adds the service token (and org) to ctx when ctx asks for it
// with ForOrg or AsService and carries no authorization of its own.
func (s *ServiceTokens) outgoing(ctx context.Context) (context.Context, error) {
	as, ok := ctx.Value(callAsKey{}).(callAs)
	if !ok {
		return ctx, nil
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	if len(md.Get(MDAuthorization)) > 0 {
		return ctx, nil
	}
	t, err := s.Token()
	if err != nil {
		return nil, err
	}
	kv := []string{MDAuthorization, "Bearer " + t}
	if as.org != "" {
		kv = append(kv, MDOrgID, as.org)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...), nil
}

// UnaryClientInterceptor applies ForOrg and AsService to unary calls.
func (s *ServiceTokens) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, err := s.outgoing(ctx)
		if err != nil {
			return err
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor applies ForOrg and AsService to streaming calls.
func (s *ServiceTokens) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, err := s.outgoing(ctx)
		if err != nil {
			return nil, err
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
}

// DialOptions are the client interceptors that apply ForOrg and AsService.
func (s *ServiceTokens) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(s.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(s.StreamClientInterceptor()),
	}
}

// WithToken returns ctx carrying a bearer token for outgoing gRPC calls
// (the gateway forwards the end user's token this way).
func WithToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, MDAuthorization, "Bearer "+token)
}
