package authz_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
)

const org = "6f1d7a8e-8a55-4d5e-9b0e-3f1a2b3c4d5e"

func TestVerifyRejectsBadTokens(t *testing.T) {
	iss := authztest.NewIssuer(t)
	v := iss.Verifier()
	ctx := context.Background()
	good := iss.User(org, "bots:read")
	id, err := v.Verify(ctx, good)
	if err != nil || id.Kind != authz.KindUser || id.OrgID != org || !id.Can("bots:read") || id.Can("bots:write") {
		t.Fatalf("good token: %+v %v", id, err)
	}
	other := authztest.NewIssuer(t)
	parts := strings.Split(good, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(claims), `"bots:read"`, `"*"`, 1)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"`+iss.Key.ID+`"}`)) + "." + parts[1] + "."
	// HS256 with the public key as the secret: the classic alg confusion.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, authz.NewClaims(authz.DefaultIssuer, &authz.Identity{Kind: authz.KindUser, Subject: "x", OrgID: org}, time.Now(), time.Minute))
	hs.Header["kid"] = iss.Key.ID
	hsTok, _ := hs.SignedString([]byte(iss.Key.Public()))
	wrongIss := *iss
	wrongIss.Issuer = "someone-else"
	cases := map[string]string{
		"expired":        iss.TokenAt(authz.Identity{Kind: authz.KindUser, OrgID: org}, time.Now().Add(-time.Hour), 10*time.Minute),
		"not yet valid":  iss.TokenAt(authz.Identity{Kind: authz.KindUser, OrgID: org}, time.Now().Add(time.Hour), 10*time.Minute),
		"forged":         other.User(org, "*"),
		"tampered":       parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2],
		"alg none":       none,
		"alg HS256":      hsTok,
		"wrong issuer":   wrongIss.User(org),
		"no org":         iss.Token(authz.Identity{Kind: authz.KindUser}),
		"visitor no bot": iss.Token(authz.Identity{Kind: authz.KindVisitor, OrgID: org}),
		"unknown kind":   iss.Token(authz.Identity{Kind: "root", OrgID: org}),
		"garbage":        "not.a.jwt",
		// The botauth key may not sign service tokens, nor the service key users.
		"service by user key": func() string {
			tok, _ := iss.Key.Sign(authz.NewClaims(iss.Issuer, &authz.Identity{Kind: authz.KindService, Subject: "evil"}, time.Now(), time.Minute))
			return tok
		}(),
		"user by service key": func() string {
			tok, _ := iss.Service.Sign(authz.NewClaims(iss.Issuer, &authz.Identity{Kind: authz.KindUser, Subject: "evil", OrgID: org}, time.Now(), time.Minute))
			return tok
		}(),
	}
	for name, tok := range cases {
		if id, err := v.Verify(ctx, tok); !errors.Is(err, authz.ErrInvalidToken) {
			t.Errorf("%s: accepted or wrong error: %+v %v", name, id, err)
		}
	}
	if _, err := v.Verify(ctx, iss.ServiceToken("botchat")); err != nil {
		t.Fatalf("service token: %v", err)
	}
}

// TestKeyRotation: a verifier meeting a new key id refetches the set, and
// tokens of the old key stay valid while the set still lists it.
func TestKeyRotation(t *testing.T) {
	a, _ := authz.NewKey()
	b, _ := authz.NewKey()
	var set atomic.Value
	set.Store(authz.JWKS{Keys: []authz.JWK{a.JWK()}}.Marshal())
	var fetches atomic.Int32
	now := time.Now()
	v := authz.NewVerifier(authz.VerifierOptions{Now: func() time.Time { return now }, Keys: func(context.Context) ([]byte, error) {
		fetches.Add(1)
		return []byte(set.Load().(string)), nil
	}})
	sign := func(k *authz.Key) string {
		tok, err := k.Sign(authz.NewClaims(authz.DefaultIssuer, &authz.Identity{Kind: authz.KindUser, Subject: "u", OrgID: org}, now, time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(a)); err != nil {
		t.Fatal(err)
	}
	// botauth publishes a new key a while (AUTH_KEY_ACTIVATION_DELAY, more
	// than the 10s refetch limit) before signing with it.
	set.Store(authz.JWKS{Keys: []authz.JWK{b.JWK(), a.JWK()}}.Marshal())
	now = now.Add(11 * time.Second)
	for _, tok := range []string{sign(b), sign(a)} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("fetches: %d, want 2 (initial + unknown kid)", n)
	}
	// Unknown kids do not refetch again within minRefetch.
	c, _ := authz.NewKey()
	for range 5 {
		if _, err := v.Verify(ctx, sign(c)); err == nil {
			t.Fatal("unknown key accepted")
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("garbage kids caused refetches: %d", n)
	}
	// Unreachable issuer: Unavailable-type error, not "invalid token".
	down := authz.NewVerifier(authz.VerifierOptions{Keys: func(context.Context) ([]byte, error) { return nil, errors.New("down") }})
	if _, err := down.Verify(ctx, sign(a)); !errors.Is(err, authz.ErrKeysUnavailable) {
		t.Fatalf("down issuer: %v", err)
	}
}

var testPolicy = authz.Policy{
	"/t.S/Public":  {Public: true},
	"/t.S/Read":    {Permission: "bots:read"},
	"/t.S/Chat":    {Permission: "chat:use", Kinds: []authz.Kind{authz.KindUser, authz.KindVisitor}},
	"/t.S/Service": {Kinds: []authz.Kind{authz.KindService}},
}

func guardFor(t testing.TB, iss *authztest.Issuer) *authz.Guard {
	g := authz.NewGuard(iss.Verifier())
	if err := g.Add(testPolicy); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGuardDecides(t *testing.T) {
	iss := authztest.NewIssuer(t)
	g := guardFor(t, iss)
	if err := g.Add(authz.Policy{"/t.S/Read": {Permission: "bots:write"}}); err == nil {
		t.Fatal("conflicting rule accepted")
	}
	in := func(kv ...string) context.Context {
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs(kv...))
	}
	bearer := func(tok string) []string { return []string{"authorization", "Bearer " + tok} }
	other := "0b7c6a4e-1d2f-4e3a-9b8c-7d6e5f4a3b2c"
	cases := []struct {
		name, method string
		md           []string
		want         codes.Code
		org          string
	}{
		{"health is public", "/grpc.health.v1.Health/Check", nil, codes.OK, ""},
		{"reflection is public", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", nil, codes.OK, ""},
		{"unlisted method", "/t.S/Other", bearer(iss.User(org, "*")), codes.PermissionDenied, ""},
		{"public without token", "/t.S/Public", nil, codes.OK, ""},
		{"public with a bad token", "/t.S/Public", bearer("junk"), codes.OK, ""},
		{"no token", "/t.S/Read", nil, codes.Unauthenticated, ""},
		{"malformed header", "/t.S/Read", []string{"authorization", "Basic abc"}, codes.Unauthenticated, ""},
		{"forged", "/t.S/Read", bearer(authztest.NewIssuer(t).User(org, "*")), codes.Unauthenticated, ""},
		{"permission", "/t.S/Read", bearer(iss.User(org, "bots:read")), codes.OK, org},
		{"resource wildcard", "/t.S/Read", bearer(iss.User(org, "bots:*")), codes.OK, org},
		{"missing permission", "/t.S/Read", bearer(iss.User(org, "files:read")), codes.PermissionDenied, ""},
		{"visitor not listed", "/t.S/Read", bearer(iss.Visitor(org, "b1")), codes.PermissionDenied, ""},
		{"visitor listed", "/t.S/Chat", bearer(iss.Visitor(org, "b1")), codes.OK, org},
		{"api key not listed", "/t.S/Chat", bearer(iss.APIKey(org, "*")), codes.PermissionDenied, ""},
		{"user on service method", "/t.S/Service", bearer(iss.User(org, "*")), codes.PermissionDenied, ""},
		{"service", "/t.S/Service", bearer(iss.ServiceToken("botauto")), codes.OK, ""},
		{"service for org", "/t.S/Service", append(bearer(iss.ServiceToken("botauto")), "bot-org-id", other), codes.OK, other},
		{"service bad org", "/t.S/Service", append(bearer(iss.ServiceToken("botauto")), "bot-org-id", "x"), codes.InvalidArgument, ""},
		// A user cannot switch org with the service metadata.
		{"user sends bot-org-id", "/t.S/Read", append(bearer(iss.User(org, "*")), "bot-org-id", other), codes.OK, org},
	}
	for _, c := range cases {
		ctx, err := g.Authorize(in(c.md...), c.method)
		if status.Code(err) != c.want {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
			continue
		}
		if err == nil && c.org != "" {
			id, ok := authz.FromContext(ctx)
			if !ok || id.OrgID != c.org {
				t.Errorf("%s: identity %+v, want org %s", c.name, id, c.org)
			}
		}
	}
}

func TestHTTPMiddleware(t *testing.T) {
	iss := authztest.NewIssuer(t)
	g := guardFor(t, iss)
	h := g.HTTP(authz.Rule{Permission: "bots:read"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := authz.FromContext(r.Context())
		_, _ = w.Write([]byte(id.OrgID))
	}), authz.HTTPOptions{QueryToken: true})
	do := func(target, auth string) (int, string) {
		r := httptest.NewRequest("GET", target, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := do("/", "Bearer "+iss.User(org, "bots:read")); code != 200 || body != org {
		t.Fatalf("ok: %d %s", code, body)
	}
	if code, _ := do("/?token="+iss.User(org, "bots:read"), ""); code != 200 {
		t.Fatalf("query token: %d", code)
	}
	for name, c := range map[string]struct {
		auth string
		code int
	}{
		"none": {"", 401}, "forged": {"Bearer " + authztest.NewIssuer(t).User(org, "*"), 401},
		"expired":    {"Bearer " + iss.TokenAt(authz.Identity{Kind: authz.KindUser, OrgID: org, Permissions: []string{"*"}}, time.Now().Add(-time.Hour), time.Minute), 401},
		"permission": {"Bearer " + iss.User(org, "files:read"), 403},
	} {
		code, body := do("/", c.auth)
		var e struct {
			Error struct{ Code, Message string }
		}
		if code != c.code || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code == "" {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
}

// TestServiceTokensOnlyWhenAsked: the client interceptor adds the service
// token for ForOrg/AsService contexts only, and never replaces a forwarded one.
func TestServiceTokensOnlyWhenAsked(t *testing.T) {
	iss := authztest.NewIssuer(t)
	st := authz.NewServiceTokens("botauto", iss.Issuer, iss.Service)
	var got metadata.MD
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		got, _ = metadata.FromOutgoingContext(ctx)
		return nil
	}
	// DialOptions hides the interceptor; run it through a real ClientConn-less call.
	call := func(ctx context.Context) metadata.MD {
		got = nil
		cc, err := grpc.NewClient("passthrough:///unused", append(st.DialOptions(), grpc.WithTransportCredentials(insecureCreds()),
			grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, _ grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				return invoker(ctx, method, req, reply, cc, opts...)
			}))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		_ = cc.Invoke(ctx, "/t.S/Read", nil, nil)
		return got
	}
	if md := call(context.Background()); len(md.Get("authorization")) != 0 {
		t.Fatalf("plain context got a token: %v", md)
	}
	md := call(authz.ForOrg(context.Background(), org))
	if len(md.Get("authorization")) != 1 || md.Get("bot-org-id")[0] != org {
		t.Fatalf("ForOrg: %v", md)
	}
	id, err := iss.Verifier().Verify(context.Background(), strings.TrimPrefix(md.Get("authorization")[0], "Bearer "))
	if err != nil || id.Kind != authz.KindService || id.Subject != "botauto" {
		t.Fatalf("service token: %+v %v", id, err)
	}
	user := iss.User(org)
	md = call(authz.ForOrg(authz.WithToken(context.Background(), user), org))
	if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer "+user {
		t.Fatalf("forwarded token replaced: %v", md)
	}
}

func TestJWKSRoundTrip(t *testing.T) {
	k, _ := authz.NewKey()
	keys, err := authz.ParseJWKS([]byte(authz.JWKS{Keys: []authz.JWK{k.JWK()}}.Marshal()))
	if err != nil || !keys[k.ID].Equal(k.Public()) {
		t.Fatalf("%v %v", keys, err)
	}
	if _, err := authz.ParseJWKS([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"x","e":"AQAB"}]}`)); err == nil {
		t.Fatal("set without Ed25519 keys accepted")
	}
	if _, err := authz.ParseJWKS([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"AAAA"}]}`)); err == nil {
		t.Fatal("short key accepted")
	}
	var _ ed25519.PublicKey = keys[k.ID]
}

// BenchmarkVerify is what the interceptor spends per call: Authorize with a
// token seen before (the verified-token cache; the steady state of a
// client reusing its access token) and with a fresh token each time (a full
// Ed25519 signature check).
func BenchmarkVerify(b *testing.B) {
	iss := authztest.NewIssuer(b)
	g := guardFor(b, iss)
	tok := iss.User(org, "bots:read")
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := g.Authorize(ctx, "/t.S/Read"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signature", func(b *testing.B) {
		toks := make([]context.Context, 4096)
		for i := range toks {
			toks[i] = metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+iss.User(org, "bots:read")))
		}
		i := 0
		for b.Loop() {
			// A fresh verifier per 4096 tokens keeps the cache out of it.
			if i%len(toks) == 0 {
				g = guardFor(b, iss)
			}
			if _, err := g.Authorize(toks[i%len(toks)], "/t.S/Read"); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }
