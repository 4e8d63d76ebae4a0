package botauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

// OpenID Connect login: authorization code flow with PKCE (S256) and a
// nonce. StartOidc keeps state, nonce and code verifier server-side in
// auth.oidc_logins (hashed state, single use, OIDC_STATE_TTL); FinishOidc
// consumes the state, exchanges the code, verifies the ID token (signature
// through the provider's JWKS, issuer, audience, expiry, nonce) and opens
// the same kind of session as a password login.
//
// Providers: an org's own (auth.oidc_providers, set by its admins) or the
// platform's (OIDC_* settings). An external identity (issuer, subject) is
// linked to a user once; later logins find it. A first login links by
// verified email: the platform provider links any user of that email, an
// org's provider only a member of that org (an org admin's IdP must not
// claim accounts of other orgs). An email unknown to the platform becomes a
// user only when the provider's org allows signup.

// oidcProvider is the resolved configuration of one login.
type oidcProvider struct {
	orgID        string // the org of an org's own provider; "" : the platform's
	issuer       string
	clientID     string
	clientSecret string
	redirectURL  string
	scopes       []string
	allowSignup  bool
	signupRole   string
	signupOrg    string // where signups land
}

const (
	maxOIDCField   = 2048
	providerReload = time.Hour
)

// oidcClients caches discovered providers by issuer. go-oidc caches each
// provider's JWKS and refetches it on an unknown key id.
type oidcClients struct {
	http *http.Client
	mu   sync.Mutex
	byIs map[string]cachedProvider
}

type cachedProvider struct {
	p  *oidc.Provider
	at time.Time
}

func newOIDCClients() *oidcClients {
	return &oidcClients{http: &http.Client{Timeout: 10 * time.Second}, byIs: map[string]cachedProvider{}}
}

func (c *oidcClients) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, c.http)
}

// provider returns the discovered provider of issuer; Unavailable when its
// discovery document cannot be loaded.
func (c *oidcClients) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	c.mu.Lock()
	cp, ok := c.byIs[issuer]
	c.mu.Unlock()
	if ok && time.Since(cp.at) < providerReload {
		return cp.p, nil
	}
	// Discovery outlives the request: the provider keeps the client of the
	// context it was built with (for its JWKS), never the request's deadline.
	dctx, cancel := context.WithTimeout(c.ctx(context.Background()), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-dctx.Done():
		}
	}()
	p, err := oidc.NewProvider(dctx, issuer)
	if err != nil {
		if ok {
			return cp.p, nil // a stale discovery is better than none
		}
		return nil, status.Errorf(codes.Unavailable, "the OpenID provider %s is unreachable or misconfigured: %v", issuer, err)
	}
	c.mu.Lock()
	c.byIs[issuer] = cachedProvider{p: p, at: time.Now()}
	c.mu.Unlock()
	return p, nil
}

// platformOIDC is the provider of the OIDC_* settings, nil when unset.
func (s *server) platformOIDC() *oidcProvider {
	if s.set.OIDCIssuer == "" {
		return nil
	}
	return &oidcProvider{issuer: s.set.OIDCIssuer, clientID: s.set.OIDCClientID, clientSecret: s.set.OIDCClientSecret,
		redirectURL: s.set.OIDCRedirectURL, scopes: s.set.OIDCScopes, allowSignup: s.set.OIDCAllowSignup,
		signupRole: s.set.OIDCSignupRole, signupOrg: authz.DefaultOrgID}
}

// orgOIDC reads an org's own provider (nil when it has none).
func (s *server) orgOIDC(ctx context.Context, orgID string) (*oidcProvider, error) {
	var p *oidcProvider
	err := pg.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		q := &oidcProvider{orgID: orgID, signupOrg: orgID}
		err := tx.QueryRow(ctx, `SELECT issuer, client_id, client_secret, redirect_url, scopes, allow_signup, signup_role FROM auth.oidc_providers`).
			Scan(&q.issuer, &q.clientID, &q.clientSecret, &q.redirectURL, &q.scopes, &q.allowSignup, &q.signupRole)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		p = q
		return err
	})
	if p != nil && p.redirectURL == "" {
		p.redirectURL = s.set.OIDCRedirectURL
	}
	return p, err
}

func (p *oidcProvider) oauth(op *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: p.clientID, ClientSecret: p.clientSecret, RedirectURL: p.redirectURL,
		Endpoint: op.Endpoint(), Scopes: p.scopes}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errNoOIDC = status.Error(codes.FailedPrecondition, "OpenID Connect login is not configured (set OIDC_ISSUER, or the organisation's provider)")

// StartOidc returns the provider's authorization URL for a new login.
func (s *server) StartOidc(ctx context.Context, req *authv1.StartOidcRequest) (*authv1.StartOidcResponse, error) {
	slug := req.GetOrg()
	var p *oidcProvider
	if slug != "" {
		if !slugRE.MatchString(slug) {
			return nil, notFound("organisation")
		}
		// Platform read: an org by slug, as for visitor sessions.
		var orgID string
		err := s.db.QueryRow(ctx, `SELECT id FROM auth.orgs WHERE slug = $1`, slug).Scan(&orgID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, notFound("organisation")
		}
		if err != nil {
			return nil, s.dbErr(err)
		}
		if p, err = s.orgOIDC(ctx, orgID); err != nil {
			return nil, s.dbErr(err)
		}
	}
	if p == nil {
		p = s.platformOIDC()
	}
	if p == nil {
		return nil, errNoOIDC
	}
	if p.redirectURL == "" {
		return nil, status.Error(codes.FailedPrecondition, "OIDC_REDIRECT_URL is not set")
	}
	op, err := s.oidc.provider(ctx, p.issuer)
	if err != nil {
		return nil, err
	}
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	var org any
	if p.orgID != "" {
		org = p.orgID
	}
	now := s.now()
	err = pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM auth.oidc_logins WHERE expires_at < $1`, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth.oidc_logins (state_hash, org_id, org_slug, issuer, nonce, verifier, redirect_url, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, hashSecret(state), org, slug, p.issuer, nonce, verifier, p.redirectURL, now.Add(s.set.OIDCStateTTL))
		return err
	})
	if err != nil {
		return nil, s.dbErr(err)
	}
	u := p.oauth(op).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	return &authv1.StartOidcResponse{AuthUrl: u, State: state}, nil
}

// oidcLogin is a consumed auth.oidc_logins row.
type oidcLogin struct {
	orgID                         *string
	slug, issuer, nonce, verifier string
	redirectURL                   string
	expires                       time.Time
}

var errOIDCState = status.Error(codes.Unauthenticated, "unknown, expired or already used OIDC state: start the login again")

// FinishOidc completes a login with the code the provider sent back.
func (s *server) FinishOidc(ctx context.Context, req *authv1.FinishOidcRequest) (*authv1.FinishOidcResponse, error) {
	if req.GetState() == "" || req.GetCode() == "" || len(req.GetState()) > 200 || len(req.GetCode()) > maxOIDCField {
		return nil, invalid("state and code are required")
	}
	// Single use: the row is deleted whatever happens next.
	var l oidcLogin
	err := s.db.QueryRow(ctx, `DELETE FROM auth.oidc_logins WHERE state_hash = $1
		RETURNING org_id, org_slug, issuer, nonce, verifier, redirect_url, expires_at`, hashSecret(req.GetState())).
		Scan(&l.orgID, &l.slug, &l.issuer, &l.nonce, &l.verifier, &l.redirectURL, &l.expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errOIDCState
	}
	if err != nil {
		return nil, s.dbErr(err)
	}
	if !s.now().Before(l.expires) {
		return nil, errOIDCState
	}
	// The configuration as it is now (a provider removed or changed since
	// the start no longer logs anybody in).
	var p *oidcProvider
	if l.orgID != nil {
		if p, err = s.orgOIDC(ctx, *l.orgID); err != nil {
			return nil, s.dbErr(err)
		}
	} else {
		p = s.platformOIDC()
	}
	if p == nil || p.issuer != l.issuer {
		return nil, status.Error(codes.FailedPrecondition, "the OpenID provider of this login was removed or changed: start the login again")
	}
	p.redirectURL = l.redirectURL
	claims, err := s.oidcExchange(ctx, p, &l, req.GetCode())
	if err != nil {
		s.audit(ctx, claims.Email, "", "", "oidc", false, "oidc: "+status.Convert(err).Message())
		return nil, err
	}
	userID, linked, created, err := s.oidcUser(ctx, p, claims)
	if err != nil {
		s.audit(ctx, claims.Email, userID, "", "oidc", false, "oidc: "+status.Convert(err).Message())
		return nil, err
	}
	org := p.orgID
	if org == "" {
		if org, err = s.pickOrg(ctx, userID, l.slug); err != nil {
			s.audit(ctx, claims.Email, userID, "", "oidc", false, "no_org")
			return nil, err
		}
	}
	resp, err := s.loginTo(ctx, org, userID, claims.Email, "oidc")
	if err != nil {
		if status.Code(err) == codes.NotFound {
			// The org's RLS hides a user who is not (or no longer) a member.
			return nil, status.Error(codes.PermissionDenied, "this account is not a member of the organisation")
		}
		return nil, err
	}
	return &authv1.FinishOidcResponse{Tokens: resp.Tokens, User: resp.User, Linked: linked, UserCreated: created}, nil
}

// oidcClaims are what a login uses from the ID token (or user info).
type oidcClaims struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	Name            string
}

// oidcExchange swaps the code for tokens and verifies the ID token.
func (s *server) oidcExchange(ctx context.Context, p *oidcProvider, l *oidcLogin, code string) (oidcClaims, error) {
	var c oidcClaims
	op, err := s.oidc.provider(ctx, p.issuer)
	if err != nil {
		return c, err
	}
	hctx := s.oidc.ctx(ctx)
	tok, err := p.oauth(op).Exchange(hctx, code, oauth2.VerifierOption(l.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return c, status.Errorf(codes.Unauthenticated, "the OpenID provider refused the code: %s %s", re.ErrorCode, re.ErrorDescription)
		}
		return c, status.Errorf(codes.Unavailable, "cannot reach the OpenID provider %s to exchange the code: %v", p.issuer, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return c, status.Error(codes.Unauthenticated, "the OpenID provider returned no ID token (is the openid scope requested?)")
	}
	// Signature (provider JWKS), iss, aud = our client id, exp.
	idt, err := op.Verifier(&oidc.Config{ClientID: p.clientID, Now: s.now}).Verify(hctx, raw)
	if err != nil {
		return c, status.Errorf(codes.Unauthenticated, "ID token rejected: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(l.nonce)) != 1 {
		return c, status.Error(codes.Unauthenticated, "ID token rejected: its nonce does not match this login")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return c, status.Errorf(codes.Unauthenticated, "ID token rejected: %v", err)
		}
	}
	var cl struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"` // some providers send "true"
		Name          string `json:"name"`
	}
	if err := idt.Claims(&cl); err != nil {
		return c, status.Errorf(codes.Unauthenticated, "ID token rejected: %v", err)
	}
	c = oidcClaims{Issuer: idt.Issuer, Subject: idt.Subject, Email: cl.Email, Name: cl.Name, EmailVerified: truthy(cl.EmailVerified)}
	if c.Email == "" && op.UserInfoEndpoint() != "" {
		// Many providers put the email in the user info only.
		ui, err := op.UserInfo(hctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return c, status.Errorf(codes.Unavailable, "OpenID provider user info: %v", err)
		}
		if ui.Subject != idt.Subject {
			return c, status.Error(codes.Unauthenticated, "the user info is about another subject than the ID token")
		}
		c.Email, c.EmailVerified = ui.Email, ui.EmailVerified
		if c.Name == "" {
			var n struct {
				Name string `json:"name"`
			}
			_ = ui.Claims(&n)
			c.Name = n.Name
		}
	}
	if c.Subject == "" || len(c.Subject) > 255 || len(c.Email) > 254 {
		return c, status.Error(codes.Unauthenticated, "ID token rejected: subject missing or too long")
	}
	if c.Email != "" {
		if c.Email, err = normEmail(c.Email); err != nil {
			c.Email, c.EmailVerified = "", false
		}
	}
	c.Name, _ = checkName("name", c.Name, 200)
	return c, nil
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// oidcUser finds the user of an external identity, linking or creating
// one when allowed. Platform statements: external identities and users by
// email are cross-org by nature.
func (s *server) oidcUser(ctx context.Context, p *oidcProvider, c oidcClaims) (userID string, linked, created bool, err error) {
	err = pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `UPDATE auth.external_identities e SET last_login_at = now(), email = $3
			FROM auth.users u WHERE u.id = e.user_id AND e.issuer = $1 AND e.subject = $2 RETURNING u.id, u.status`,
			c.Issuer, c.Subject, c.Email).Scan(&userID, &state)
		switch {
		case err == nil && state != "active":
			return status.Error(codes.PermissionDenied, "this account is disabled")
		case err == nil:
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if c.Email == "" || !c.EmailVerified {
			return status.Error(codes.PermissionDenied, "the OpenID provider did not assert a verified email address, so the identity cannot be matched to an account")
		}
		err = tx.QueryRow(ctx, `SELECT id, status FROM auth.users WHERE lower(email) = $1 FOR UPDATE`, c.Email).Scan(&userID, &state)
		switch {
		case err == nil:
			if state != "active" {
				return status.Error(codes.PermissionDenied, "this account is disabled")
			}
			if p.orgID != "" {
				var member bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.memberships WHERE org_id = $1 AND user_id = $2)`, p.orgID, userID).Scan(&member); err != nil {
					return err
				}
				if !member {
					return status.Error(codes.PermissionDenied, "an account with this email exists but is not a member of the organisation: ask for an invitation")
				}
			}
			linked = true
			return linkIdentity(ctx, tx, c, userID)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if !p.allowSignup {
			return status.Error(codes.PermissionDenied, "no account for this identity, and the organisation does not allow sign-up: ask for an invitation")
		}
		userID = uuid.NewString()
		if _, err := tx.Exec(ctx, `INSERT INTO auth.users (id, email, display_name) VALUES ($1, $2, $3)`, userID, c.Email, c.Name); err != nil {
			return err
		}
		if err := linkIdentity(ctx, tx, c, userID); err != nil {
			return err
		}
		linked, created = true, true
		if err := asTenant(ctx, tx, p.signupOrg); err != nil {
			return err
		}
		if err := addMember(ctx, tx, p.signupOrg, userID, p.signupRole); err != nil {
			return err
		}
		return s.event(ctx, tx, "bot.auth.user.created", &authv1.UserEvent{UserId: userID, OrgId: p.signupOrg, Email: c.Email,
			Actor: "oidc:" + c.Issuer, At: timestamppb.New(s.now())})
	})
	if err != nil {
		return userID, false, false, s.dbErr(err)
	}
	return userID, linked, created, nil
}

func linkIdentity(ctx context.Context, tx pgx.Tx, c oidcClaims, userID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO auth.external_identities (issuer, subject, user_id, email, last_login_at) VALUES ($1, $2, $3, $4, now())`,
		c.Issuer, c.Subject, userID, c.Email)
	return err
}

// checkIssuer validates an issuer or redirect URL: absolute, no fragment,
// https unless http is allowed.
func checkURL(what, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil || len(raw) > maxOIDCField {
		return fmt.Errorf("%s must be an absolute URL without user or fragment", what)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (allowHTTP || isLoopback(u.Hostname())):
	default:
		return fmt.Errorf("%s must use https", what)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return []string{oidc.ScopeOpenID, "email", "profile"}, nil
	}
	if len(scopes) > 20 {
		return nil, errors.New("at most 20 scopes")
	}
	for _, sc := range scopes {
		if sc == "" || len(sc) > 100 || strings.ContainsFunc(sc, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '\\' }) {
			return nil, fmt.Errorf("scope %q is malformed", sc)
		}
	}
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		return nil, errors.New("scopes must include openid")
	}
	return scopes, nil
}

// GetOidcProvider returns the org's provider without its secret.
func (s *server) GetOidcProvider(ctx context.Context, _ *authv1.GetOidcProviderRequest) (*authv1.GetOidcProviderResponse, error) {
	resp := &authv1.GetOidcProviderResponse{}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) (err error) {
		resp.Provider, err = getOIDCProvider(ctx, tx)
		return err
	})
	return resp, err
}

func getOIDCProvider(ctx context.Context, tx pgx.Tx) (*authv1.OidcProvider, error) {
	p := &authv1.OidcProvider{}
	var updated time.Time
	err := tx.QueryRow(ctx, `SELECT issuer, client_id, client_secret <> '', redirect_url, scopes, allow_signup, signup_role, updated_at FROM auth.oidc_providers`).
		Scan(&p.Issuer, &p.ClientId, &p.ClientSecretSet, &p.RedirectUrl, &p.Scopes, &p.AllowSignup, &p.SignupRole, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, status.Error(codes.NotFound, "the organisation has no OpenID provider")
	}
	p.UpdatedAt = ts(updated)
	return p, err
}

// SetOidcProvider creates or replaces the org's provider. Its discovery
// document must load, so a typo fails here rather than at the first login.
func (s *server) SetOidcProvider(ctx context.Context, req *authv1.SetOidcProviderRequest) (*authv1.SetOidcProviderResponse, error) {
	allowHTTP := s.set.OIDCAllowHTTP
	if err := checkURL("issuer", req.GetIssuer(), allowHTTP); err != nil {
		return nil, invalid("%v", err)
	}
	if req.GetRedirectUrl() != "" {
		if err := checkURL("redirect_url", req.GetRedirectUrl(), allowHTTP); err != nil {
			return nil, invalid("%v", err)
		}
	} else if s.set.OIDCRedirectURL == "" {
		return nil, invalid("redirect_url is required: the platform has no OIDC_REDIRECT_URL")
	}
	if c := req.GetClientId(); c == "" || len(c) > 255 || strings.ContainsAny(c, "\x00\r\n") {
		return nil, invalid("client_id must be 1 to 255 characters")
	}
	if len(req.GetClientSecret()) > 1024 {
		return nil, invalid("client_secret is too long")
	}
	scopes, err := checkScopes(req.GetScopes())
	if err != nil {
		return nil, invalid("%v", err)
	}
	role := req.GetSignupRole()
	if role == "" {
		role = "viewer"
	}
	if _, err := s.oidc.provider(ctx, req.GetIssuer()); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%s", status.Convert(err).Message())
	}
	resp := &authv1.SetOidcProviderResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		var perms []string
		err := tx.QueryRow(ctx, `SELECT permissions FROM auth.roles WHERE name = $1`, role).Scan(&perms)
		if errors.Is(err, pgx.ErrNoRows) {
			return invalid("no role %q", role)
		}
		if err != nil {
			return err
		}
		if err := grants(id, perms); err != nil { // nobody signs others up with more than they hold
			return err
		}
		org := id.OrgID
		_, err = tx.Exec(ctx, `INSERT INTO auth.oidc_providers (org_id, issuer, client_id, client_secret, redirect_url, scopes, allow_signup, signup_role)
			VALUES ($1, $2, $3, coalesce($4, ''), $5, $6, $7, $8)
			ON CONFLICT (org_id) DO UPDATE SET issuer = $2, client_id = $3, client_secret = coalesce($4, oidc_providers.client_secret),
				redirect_url = $5, scopes = $6, allow_signup = $7, signup_role = $8, updated_at = now()`,
			org, req.GetIssuer(), req.GetClientId(), req.ClientSecret, req.GetRedirectUrl(), scopes, req.GetAllowSignup(), role)
		if err != nil {
			return err
		}
		resp.Provider, err = getOIDCProvider(ctx, tx)
		return err
	})
	return resp, err
}

// DeleteOidcProvider removes the org's provider; linked identities stay
// (they log in again if a provider of the same issuer comes back).
func (s *server) DeleteOidcProvider(ctx context.Context, _ *authv1.DeleteOidcProviderRequest) (*authv1.DeleteOidcProviderResponse, error) {
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		tag, err := tx.Exec(ctx, `DELETE FROM auth.oidc_providers`)
		if err == nil && tag.RowsAffected() == 0 {
			return status.Error(codes.NotFound, "the organisation has no OpenID provider")
		}
		return err
	})
	return &authv1.DeleteOidcProviderResponse{}, err
}
