package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Metadata keys of the gRPC calls between the platform's services.
const (
	// MDAuthorization carries "Bearer <token>", as the HTTP header does.
	MDAuthorization = "authorization"
	// MDOrgID names the organisation a service acts for; only service
	// identities may set it.
	MDOrgID = "bot-org-id"
)

// publicPrefixes are always open: load balancers and grpcurl need them.
var publicPrefixes = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// Guard enforces the merged policy of the services of one gRPC server (and
// any HTTP routes wrapped with HTTP): it verifies the caller's token, puts
// the Identity in the context and checks the method's Rule.
type Guard struct {
	v      *Verifier
	mu     sync.RWMutex
	policy Policy
}

// NewGuard builds a guard that verifies tokens with v.
func NewGuard(v *Verifier) *Guard { return &Guard{v: v, policy: Policy{}} }

// Verifier is the guard's token verifier.
func (g *Guard) Verifier() *Verifier { return g.v }

// Add merges a service's policy. Two services may declare the same method
// only with the same rule.
func (g *Guard) Add(p Policy) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for m, r := range p {
		if !strings.HasPrefix(m, "/") || strings.Count(m, "/") != 2 {
			return fmt.Errorf("authz policy: %q is not a full method name (/pkg.Service/Method)", m)
		}
		if old, ok := g.policy[m]; ok && !sameRule(old, r) {
			return fmt.Errorf("authz policy: %s is declared twice with different rules", m)
		}
		g.policy[m] = r
	}
	return nil
}

func sameRule(a, b Rule) bool {
	return a.Permission == b.Permission && a.Public == b.Public && slices.Equal(a.Kinds, b.Kinds)
}

// Rule returns the rule of a full method name.
func (g *Guard) Rule(method string) (Rule, bool) {
	for _, p := range publicPrefixes {
		if strings.HasPrefix(method, p) {
			return Rule{Public: true}, true
		}
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	r, ok := g.policy[method]
	return r, ok
}

// Authorize decides a gRPC call: it returns the context handlers run with
// (carrying the Identity when there is one) or a status error.
func (g *Guard) Authorize(ctx context.Context, method string) (context.Context, error) {
	rule, ok := g.Rule(method)
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "%s is not open to any caller (missing from the service's authz policy)", method)
	}
	// ValueFromIncomingContext reads one key without copying the metadata.
	token, err := bearer(metadata.ValueFromIncomingContext(ctx, MDAuthorization))
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	id, err := g.identify(ctx, token, metadata.ValueFromIncomingContext(ctx, MDOrgID))
	if err != nil && !(rule.Public && status.Code(err) == codes.Unauthenticated) {
		return nil, err
	}
	if rule.Public {
		if id != nil {
			ctx = WithIdentity(ctx, id)
		}
		return ctx, nil
	}
	if err := Allowed(id, rule); err != nil {
		return nil, err
	}
	return WithIdentity(ctx, id), nil
}

// identify verifies token (nil identity for no token) and applies the
// bot-org-id of service callers.
func (g *Guard) identify(ctx context.Context, token string, org []string) (*Identity, error) {
	if token == "" {
		return nil, nil
	}
	id, err := g.v.Verify(ctx, token)
	switch {
	case errors.Is(err, ErrKeysUnavailable):
		return nil, status.Error(codes.Unavailable, err.Error())
	case err != nil:
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	if id.Kind == KindService && len(org) > 0 {
		if len(org) > 1 {
			return nil, status.Error(codes.InvalidArgument, "more than one bot-org-id")
		}
		if _, err := uuid.Parse(org[0]); err != nil {
			return nil, status.Error(codes.InvalidArgument, "bot-org-id is not a uuid")
		}
		id.OrgID = org[0]
	}
	return id, nil
}

// Allowed checks a verified identity (nil: none) against a non-public rule.
func Allowed(id *Identity, rule Rule) error {
	if rule.Public {
		return nil
	}
	if id == nil {
		return status.Error(codes.Unauthenticated, "a token is required (Authorization: Bearer <token>)")
	}
	kinds := rule.Kinds
	if len(kinds) == 0 {
		kinds = []Kind{KindUser, KindAPIKey, KindService}
	}
	if !slices.Contains(kinds, id.Kind) {
		return status.Errorf(codes.PermissionDenied, "callers of kind %s may not call this", id.Kind)
	}
	if rule.Permission != "" && !id.Can(rule.Permission) {
		return status.Errorf(codes.PermissionDenied, "permission %s is required", rule.Permission)
	}
	return nil
}

func bearer(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", errors.New("more than one authorization value")
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("authorization must be \"Bearer <token>\"")
	}
	return strings.TrimSpace(token), nil
}

// UnaryServerInterceptor enforces the guard on unary calls.
func (g *Guard) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := g.Authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

type authStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s authStream) Context() context.Context { return s.ctx }

// StreamServerInterceptor enforces the guard on streaming calls.
func (g *Guard) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := g.Authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return h(srv, authStream{ss, ctx})
	}
}

// HTTPOptions tune Guard.HTTP.
type HTTPOptions struct {
	// QueryToken also accepts the token in the "token" query parameter
	// (browsers cannot set headers on a WebSocket).
	QueryToken bool
}

// HTTP wraps an HTTP handler with the same checks as a gRPC method of rule:
// 401 without a valid token (403 for a missing permission or kind), and the
// Identity in the request's context. Errors use the platform's JSON format
// {"error":{"code","message"}}. HTTP callers never act as services for an
// org through headers: bot-org-id is not read here.
func (g *Guard) HTTP(rule Rule, h http.Handler, opts ...HTTPOptions) http.Handler {
	var o HTTPOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values("Authorization")
		if len(vals) == 0 && o.QueryToken {
			if t := r.URL.Query().Get("token"); t != "" {
				vals = []string{"Bearer " + t}
			}
		}
		token, err := bearer(vals)
		if err != nil {
			writeHTTPError(w, status.Error(codes.Unauthenticated, err.Error()))
			return
		}
		id, err := g.identify(r.Context(), token, nil)
		if err != nil && !(rule.Public && status.Code(err) == codes.Unauthenticated) {
			writeHTTPError(w, err)
			return
		}
		if err := Allowed(id, rule); err != nil {
			writeHTTPError(w, err)
			return
		}
		ctx := r.Context()
		if id != nil {
			ctx = WithIdentity(ctx, id)
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func writeHTTPError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	code, name := http.StatusInternalServerError, "internal"
	switch st.Code() {
	case codes.Unauthenticated:
		code, name = http.StatusUnauthorized, "unauthorized"
		w.Header().Set("WWW-Authenticate", `Bearer`)
	case codes.PermissionDenied:
		code, name = http.StatusForbidden, "forbidden"
	case codes.InvalidArgument:
		code, name = http.StatusBadRequest, "bad_request"
	case codes.Unavailable:
		code, name = http.StatusServiceUnavailable, "unavailable"
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": name, "message": st.Message()}})
	_, _ = w.Write(append(b, '\n'))
}
