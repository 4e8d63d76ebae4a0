package botauth_test

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/botserver-go/botserver-go/botauth/oidctest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

const redirect = "http://app.test/api/v1/auth/oidc/callback"

// browser logs in at the provider and returns the state and code the
// provider sent back to the redirect URI.
func browser(t *testing.T, p *oidctest.Provider, authURL, user, pass string) (state, code string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: p.StopAtRedirect}
	resp, err := p.Login(c, authURL, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect) {
		t.Fatalf("provider did not redirect back: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("state"), loc.Query().Get("code")
}

func (e *env) startOIDC(org string) *authv1.StartOidcResponse {
	e.t.Helper()
	r, err := e.cli.StartOidc(context.Background(), &authv1.StartOidcRequest{Org: org})
	if err != nil {
		e.t.Fatalf("start oidc: %v", err)
	}
	return r
}

func (e *env) oidcLogin(p *oidctest.Provider, org, user, pass string) (*authv1.FinishOidcResponse, error) {
	e.t.Helper()
	st := e.startOIDC(org)
	state, code := browser(e.t, p, st.AuthUrl, user, pass)
	if state != st.State {
		e.t.Fatalf("state changed on the way: %q != %q", state, st.State)
	}
	return e.cli.FinishOidc(context.Background(), &authv1.FinishOidcRequest{State: state, Code: code})
}

func platformOIDC(p *oidctest.Provider, signup bool) []string {
	s := "false"
	if signup {
		s = "true"
	}
	return []string{"OIDC_ISSUER=" + p.Issuer, "OIDC_CLIENT_ID=" + p.ClientID, "OIDC_CLIENT_SECRET=" + p.ClientSecret,
		"OIDC_REDIRECT_URL=" + redirect, "OIDC_ALLOW_SIGNUP=" + s}
}

func TestOIDCPlatformProvider(t *testing.T) {
	p := oidctest.Start(t, redirect)
	alice := p.AddUser(oidctest.User{Username: "alice", Password: "alice-pw", Email: "Alice@Example.com", EmailVerified: true, Name: "Alice Liddell"})
	p.AddUser(oidctest.User{Username: "admin", Password: "admin-pw", Email: adminEmail, EmailVerified: true})
	p.AddUser(oidctest.User{Username: "bob", Password: "bob-pw", Email: "bob@example.com", EmailVerified: false})
	e := start(t, platformOIDC(p, true)...)

	// The authorization URL asks for a code with PKCE S256 and a nonce.
	st := e.startOIDC("")
	u, _ := url.Parse(st.AuthUrl)
	q := u.Query()
	if !strings.HasPrefix(st.AuthUrl, p.Issuer) || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("nonce") == "" || q.Get("state") != st.State || q.Get("redirect_uri") != redirect || q.Get("client_id") != p.ClientID {
		t.Fatalf("auth url: %s", st.AuthUrl)
	}

	// First login of an unknown verified email: user created and linked.
	r, err := e.oidcLogin(p, "", "alice", "alice-pw")
	if err != nil || !r.UserCreated || !r.Linked || r.User.Email != "alice@example.com" || r.User.DisplayName != "Alice Liddell" ||
		r.Tokens.OrgId != authz.DefaultOrgID || r.Tokens.RefreshToken == "" {
		t.Fatalf("first login: %+v %v", r, err)
	}
	me, err := e.cli.GetMe(as(r.Tokens.AccessToken), &authv1.GetMeRequest{})
	if err != nil || me.User.Id != r.User.Id || strings.Join(me.Identity.Roles, ",") != "viewer" {
		t.Fatalf("me: %+v %v", me, err)
	}
	var subject string
	if err := e.db.QueryRow(context.Background(), `SELECT subject FROM auth.external_identities WHERE user_id = $1`, r.User.Id).Scan(&subject); err != nil || subject != alice {
		t.Fatalf("identity: %q %v", subject, err)
	}
	// The session is a normal one: its refresh token works.
	if _, err := e.cli.Refresh(context.Background(), &authv1.RefreshRequest{RefreshToken: r.Tokens.RefreshToken}); err != nil {
		t.Fatal(err)
	}

	// Returning user: found by (issuer, subject), nothing created.
	r2, err := e.oidcLogin(p, "", "alice", "alice-pw")
	if err != nil || r2.UserCreated || r2.Linked || r2.User.Id != r.User.Id {
		t.Fatalf("second login: %+v %v", r2, err)
	}

	// An existing password user is linked by verified email.
	r3, err := e.oidcLogin(p, "default", "admin", "admin-pw")
	if err != nil || r3.UserCreated || !r3.Linked || r3.User.Email != adminEmail {
		t.Fatalf("admin link: %+v %v", r3, err)
	}

	// An unverified email is never matched or provisioned.
	_, err = e.oidcLogin(p, "", "bob", "bob-pw")
	code(t, err, codes.PermissionDenied, "unverified email")

	// Replayed state: the code and state of a finished login.
	st = e.startOIDC("")
	state, c := browser(t, p, st.AuthUrl, "alice", "alice-pw")
	if _, err := e.cli.FinishOidc(context.Background(), &authv1.FinishOidcRequest{State: state, Code: c}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.FinishOidc(context.Background(), &authv1.FinishOidcRequest{State: state, Code: c})
	code(t, err, codes.Unauthenticated, "replayed state")

	// Wrong state: a valid code with a state botauth never issued. It
	// consumes nothing: the genuine pair still works afterwards.
	st = e.startOIDC("")
	state, c = browser(t, p, st.AuthUrl, "alice", "alice-pw")
	_, err = e.cli.FinishOidc(context.Background(), &authv1.FinishOidcRequest{State: "not-a-state-we-issued", Code: c})
	code(t, err, codes.Unauthenticated, "wrong state")
	if _, err := e.cli.FinishOidc(context.Background(), &authv1.FinishOidcRequest{State: state, Code: c}); err != nil {
		t.Fatalf("genuine state after a wrong one: %v", err)
	}

	// Nonce mismatch: the nonce is changed on the way to the provider (the
	// provider then signs an ID token with that other nonce).
	st = e.startOIDC("")
	u, _ = url.Parse(st.AuthUrl)
	q = u.Query()
	q.Set("nonce", "a-nonce-of-the-attacker")
	u.RawQuery = q.Encode()
	state, c = browser(t, p, u.String(), "alice", "alice-pw")
	_, err = e.cli.FinishOidc(context.Background(), &authv1.FinishOidcRequest{State: state, Code: c})
	code(t, err, codes.Unauthenticated, "nonce mismatch")
	if !strings.Contains(status.Convert(err).Message(), "nonce") {
		t.Fatalf("nonce error unclear: %v", err)
	}

	// A code of another login (PKCE verifier of this state does not match).
	st1, st2 := e.startOIDC(""), e.startOIDC("")
	_, c1 := browser(t, p, st1.AuthUrl, "alice", "alice-pw")
	_, err = e.cli.FinishOidc(context.Background(), &authv1.FinishOidcRequest{State: st2.State, Code: c1})
	code(t, err, codes.Unauthenticated, "code of another login (PKCE)")

	// Provider down between start and finish: a clear Unavailable.
	st = e.startOIDC("")
	state, c = browser(t, p, st.AuthUrl, "alice", "alice-pw")
	p.Stop()
	_, err = e.cli.FinishOidc(context.Background(), &authv1.FinishOidcRequest{State: state, Code: c})
	code(t, err, codes.Unavailable, "provider down")
	if !strings.Contains(status.Convert(err).Message(), "cannot reach the OpenID provider") {
		t.Fatalf("provider down error unclear: %v", err)
	}

	// Login failures are audited.
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM auth.login_audit WHERE method = 'oidc' AND NOT success`).Scan(&n); err != nil || n < 3 {
		t.Fatalf("audit: %d %v", n, err)
	}
}

// TestOIDCSignupOff: without OIDC_ALLOW_SIGNUP an unknown email gets no
// account; a provider that cannot be reached at start is a clear error.
func TestOIDCSignupOffAndUnreachable(t *testing.T) {
	p := oidctest.Start(t, redirect)
	p.AddUser(oidctest.User{Username: "eve", Password: "eve-pw", Email: "eve@example.com", EmailVerified: true})
	e := start(t, platformOIDC(p, false)...)
	_, err := e.oidcLogin(p, "", "eve", "eve-pw")
	code(t, err, codes.PermissionDenied, "signup off")
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM auth.users WHERE email = 'eve@example.com'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("user created without signup: %d %v", n, err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	e2 := start(t, "OIDC_ISSUER="+dead, "OIDC_CLIENT_ID=x", "OIDC_REDIRECT_URL="+redirect)
	_, err = e2.cli.StartOidc(context.Background(), &authv1.StartOidcRequest{})
	code(t, err, codes.Unavailable, "provider down at start")
	if !strings.Contains(status.Convert(err).Message(), dead) {
		t.Fatalf("error does not name the provider: %v", err)
	}
	// No provider at all.
	e3 := start(t)
	_, err = e3.cli.StartOidc(context.Background(), &authv1.StartOidcRequest{})
	code(t, err, codes.FailedPrecondition, "not configured")
}

// TestOIDCOrgProvider: an org's own provider, configured through the API
// (secret write-only), with its own sign-up rule; it only logs in to its org.
func TestOIDCOrgProvider(t *testing.T) {
	p := oidctest.Start(t, redirect)
	p.AddUser(oidctest.User{Username: "carol", Password: "carol-pw", Email: "carol@acme.test", EmailVerified: true})
	p.AddUser(oidctest.User{Username: "admin", Password: "admin-pw", Email: adminEmail, EmailVerified: true})
	p.AddUser(oidctest.User{Username: "dan", Password: "dan-pw", Email: "dan@example.com", EmailVerified: true})
	e := start(t, "OIDC_REDIRECT_URL="+redirect)
	ctx := context.Background()
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	o, err := e.cli.CreateOrg(admin, &authv1.CreateOrgRequest{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	acme := as(o.Tokens.AccessToken)
	// dan exists in the platform but is not a member of acme.
	inv, err := e.cli.CreateInvitation(admin, &authv1.CreateInvitationRequest{Email: "dan@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.AcceptInvitation(ctx, &authv1.AcceptInvitationRequest{Token: inv.Token, Password: "dan's long password"}); err != nil {
		t.Fatal(err)
	}

	// Validation: https required for other hosts, openid scope required.
	_, err = e.cli.SetOidcProvider(acme, &authv1.SetOidcProviderRequest{Issuer: "http://idp.example.com", ClientId: "c"})
	code(t, err, codes.InvalidArgument, "http issuer")
	_, err = e.cli.SetOidcProvider(acme, &authv1.SetOidcProviderRequest{Issuer: p.Issuer, ClientId: "c", Scopes: []string{"email"}})
	code(t, err, codes.InvalidArgument, "no openid scope")
	_, err = e.cli.SetOidcProvider(acme, &authv1.SetOidcProviderRequest{Issuer: p.Issuer, ClientId: p.ClientID, SignupRole: "nope"})
	code(t, err, codes.InvalidArgument, "unknown signup role")

	set, err := e.cli.SetOidcProvider(acme, &authv1.SetOidcProviderRequest{Issuer: p.Issuer, ClientId: p.ClientID, ClientSecret: proto.String(p.ClientSecret)})
	if err != nil || !set.Provider.ClientSecretSet || set.Provider.SignupRole != "viewer" || set.Provider.AllowSignup {
		t.Fatalf("set: %+v %v", set, err)
	}
	// The secret is never returned, in any field.
	got, err := e.cli.GetOidcProvider(acme, &authv1.GetOidcProviderRequest{})
	if err != nil || strings.Contains(got.String(), p.ClientSecret) || !got.Provider.ClientSecretSet {
		t.Fatalf("get: %v %v", got, err)
	}
	// Other orgs do not see it; they have none.
	_, err = e.cli.GetOidcProvider(admin, &authv1.GetOidcProviderRequest{})
	code(t, err, codes.NotFound, "default org has no provider")

	// Sign-up is off: carol is refused; a member (admin) is linked.
	_, err = e.oidcLogin(p, "acme", "carol", "carol-pw")
	code(t, err, codes.PermissionDenied, "org signup off")
	r, err := e.oidcLogin(p, "acme", "admin", "admin-pw")
	if err != nil || !r.Linked || r.Tokens.OrgId != o.Org.Id {
		t.Fatalf("admin via acme: %+v %v", r, err)
	}
	// dan's verified email is an account, but not of acme: no link.
	_, err = e.oidcLogin(p, "acme", "dan", "dan-pw")
	code(t, err, codes.PermissionDenied, "non-member email")

	// Sign-up on (without resending the secret: it is kept).
	if _, err := e.cli.SetOidcProvider(acme, &authv1.SetOidcProviderRequest{Issuer: p.Issuer, ClientId: p.ClientID, AllowSignup: true}); err != nil {
		t.Fatal(err)
	}
	r, err = e.oidcLogin(p, "acme", "carol", "carol-pw")
	if err != nil || !r.UserCreated || r.Tokens.OrgId != o.Org.Id {
		t.Fatalf("carol signup: %+v %v", r, err)
	}
	me, err := e.cli.GetMe(as(r.Tokens.AccessToken), &authv1.GetMeRequest{})
	if err != nil || me.Org.Slug != "acme" || len(me.Memberships) != 1 {
		t.Fatalf("carol me: %+v %v", me, err)
	}

	// Removing the provider ends logins that were in flight.
	st := e.startOIDC("acme")
	state, c := browser(t, p, st.AuthUrl, "carol", "carol-pw")
	if _, err := e.cli.DeleteOidcProvider(acme, &authv1.DeleteOidcProviderRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.FinishOidc(ctx, &authv1.FinishOidcRequest{State: state, Code: c})
	code(t, err, codes.FailedPrecondition, "provider removed")
	_, err = e.cli.StartOidc(ctx, &authv1.StartOidcRequest{Org: "acme"})
	code(t, err, codes.FailedPrecondition, "no provider left")
	_, err = e.cli.StartOidc(ctx, &authv1.StartOidcRequest{Org: "no-such-org"})
	code(t, err, codes.NotFound, "unknown org")
}
