// Package authztest mints real signed tokens for tests of services that do
// not run botauth. An Issuer has its own signing key and service key; start
// the services with its Env so their interceptors trust it:
//
//	iss := authztest.NewIssuer(t)
//	addrs := apptest.Start(t, iss.Env(), botdrive.Service())
//	ctx := iss.Context(ctx, iss.User(orgID, "files:read"))
//	_, err := drivev1.NewDriveServiceClient(cc).Stat(ctx, req)
//
// Tokens pass through the same verification as botauth's (EdDSA JWT,
// issuer, expiry, kind rules), so a test that passes with them exercises the
// real interceptor.
package authztest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/botserver-go/botserver-go/botstate/authz"
)

// Issuer signs test tokens.
type Issuer struct {
	t       testing.TB
	Key     *authz.Key // signs user, API key and visitor tokens (published in Env's AUTH_JWKS)
	Service *authz.Key // AUTH_SERVICE_KEY: signs service tokens
	Issuer  string
	TTL     time.Duration // default 15m
}

// NewIssuer makes an issuer with fresh keys.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	k, err := authz.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := authz.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := authz.ParseServiceKey(sk.EncodeSeed())
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{t: t, Key: k, Service: svc, Issuer: authz.DefaultIssuer, TTL: 15 * time.Minute}
}

// JWKS is the issuer's public key set.
func (i *Issuer) JWKS() string { return authz.JWKS{Keys: []authz.JWK{i.Key.JWK()}}.Marshal() }

// Env are the settings that make a process trust this issuer (for
// apptest.Start): AUTH_JWKS, AUTH_SERVICE_KEY and AUTH_ISSUER.
func (i *Issuer) Env() []string {
	return []string{"AUTH_JWKS=" + i.JWKS(), "AUTH_SERVICE_KEY=" + i.Service.EncodeSeed(), "AUTH_ISSUER=" + i.Issuer}
}

// Verifier verifies what this issuer signs, as a service configured with
// Env would.
func (i *Issuer) Verifier() *authz.Verifier {
	return authz.NewVerifier(authz.VerifierOptions{Issuer: i.Issuer, Keys: authz.StaticKeys([]byte(i.JWKS())), ServiceKeys: []*authz.Key{i.Service}})
}

// Token signs a token for id (service identities with the service key).
func (i *Issuer) Token(id authz.Identity) string {
	i.t.Helper()
	return i.TokenAt(id, time.Now(), i.TTL)
}

// TokenAt signs a token issued at now and valid for ttl (negative: expired).
func (i *Issuer) TokenAt(id authz.Identity, now time.Time, ttl time.Duration) string {
	i.t.Helper()
	key := i.Key
	if id.Kind == authz.KindService {
		key = i.Service
	}
	if id.Subject == "" {
		id.Subject = uuid.NewString()
	}
	tok, err := key.Sign(authz.NewClaims(i.Issuer, &id, now, ttl))
	if err != nil {
		i.t.Fatal(err)
	}
	return tok
}

// User is a token of a user of orgID holding perms ("*" for everything).
func (i *Issuer) User(orgID string, perms ...string) string {
	return i.Token(authz.Identity{Kind: authz.KindUser, OrgID: orgID, SessionID: uuid.NewString(), Permissions: perms})
}

// APIKey is a token of an API key of orgID.
func (i *Issuer) APIKey(orgID string, perms ...string) string {
	return i.Token(authz.Identity{Kind: authz.KindAPIKey, OrgID: orgID, Permissions: perms})
}

// Visitor is a token of an anonymous visitor of one bot (chat:use only).
func (i *Issuer) Visitor(orgID, botID string) string {
	return i.Token(authz.Identity{Kind: authz.KindVisitor, OrgID: orgID, BotID: botID, SessionID: uuid.NewString(), Permissions: []string{"chat:use"}})
}

// ServiceToken is a service token (send bot-org-id with ForOrgMD to act for an org).
func (i *Issuer) ServiceToken(name string) string {
	return i.Token(authz.Identity{Kind: authz.KindService, Subject: name, Permissions: []string{"*"}})
}

// Context returns ctx carrying token as outgoing gRPC metadata.
func (i *Issuer) Context(ctx context.Context, token string) context.Context {
	return authz.WithToken(ctx, token)
}
