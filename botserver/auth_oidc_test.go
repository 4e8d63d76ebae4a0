package botserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botauth"
	"github.com/botserver-go/botserver-go/botauth/oidctest"
	authapi "github.com/botserver-go/botserver-go/botcore/api/auth"
	"github.com/botserver-go/botserver-go/botcore/gateway"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/grpcx"
)

// TestAuthOIDCBrowserFlow drives an OIDC login as a browser would: the
// gateway's start URL redirects to a real OpenID provider (zitadel/oidc's
// op) running in the test, its login form is posted, and the provider
// redirects back to the gateway's callback, which answers with tokens.
func TestAuthOIDCBrowserFlow(t *testing.T) {
	var gw http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gw.ServeHTTP(w, r) }))
	base := "http://" + srv.Listener.Addr().String()
	callback := base + "/api/v1/auth/oidc/callback"
	p := oidctest.Start(t, callback)
	p.AddUser(oidctest.User{Username: "alice", Password: "alice-pw", Email: "alice@example.com", EmailVerified: true, Name: "Alice"})

	addrs := apptest.Start(t, []string{"BOOTSTRAP_ADMIN_EMAIL=root@example.com", "BOOTSTRAP_ADMIN_PASSWORD=root password 123",
		"OIDC_ISSUER=" + p.Issuer, "OIDC_CLIENT_ID=" + p.ClientID, "OIDC_CLIENT_SECRET=" + p.ClientSecret,
		"OIDC_REDIRECT_URL=" + callback, "OIDC_ALLOW_SIGNUP=true"}, botauth.Service())
	cc, err := grpcx.Dial(addrs.GRPC, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	g, err := gateway.New(gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	authapi.Register(g, cc)
	gw = g
	srv.Start()
	t.Cleanup(srv.Close)

	browser := func(stopAtCallback bool) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		if stopAtCallback {
			c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
				if strings.HasPrefix(r.URL.String(), callback) {
					return http.ErrUseLastResponse
				}
				return nil
			}
		}
		return c
	}
	readJSON := func(resp *http.Response) (int, map[string]any) {
		t.Helper()
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out := map[string]any{}
		if err := jsonUnmarshal(b, &out); err != nil {
			t.Fatalf("not JSON (%d): %s", resp.StatusCode, b)
		}
		return resp.StatusCode, out
	}

	// New user: start → provider login → callback → tokens.
	resp, err := p.Login(browser(false), base+"/api/v1/auth/oidc/start", "alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	code, out := readJSON(resp)
	if code != 200 || out["user_created"] != true || out["linked"] != true || str(out, "user", "email") != "alice@example.com" || str(out, "refresh_token") == "" {
		t.Fatalf("first login: %d %v", code, out)
	}
	aliceTok := str(out, "access_token")
	me := client{t: t, base: base, token: aliceTok}.must(200, "GET", "/api/v1/auth/me", nil)
	if str(me, "user", "email") != "alice@example.com" || str(me, "org", "slug") != "default" {
		t.Fatalf("me: %v", me)
	}
	// Returning user.
	resp, err = p.Login(browser(false), base+"/api/v1/auth/oidc/start?org=default", "alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	if code, out = readJSON(resp); code != 200 || out["user_created"] != false || out["linked"] != false {
		t.Fatalf("second login: %d %v", code, out)
	}

	// A callback URL opened in another browser (no state cookie) is
	// refused without consuming the login; the right browser then succeeds.
	b := browser(true)
	resp, err = p.Login(b, base+"/api/v1/auth/oidc/start", "alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(back, callback) {
		t.Fatalf("no redirect to the callback: %d %q", resp.StatusCode, back)
	}
	resp, err = http.Get(back)
	if err != nil {
		t.Fatal(err)
	}
	if code, out = readJSON(resp); code != 400 || !strings.Contains(str(out, "error", "message"), "state cookie") {
		t.Fatalf("callback without cookie: %d %v", code, out)
	}
	resp, err = b.Get(back)
	if err != nil {
		t.Fatal(err)
	}
	if code, out = readJSON(resp); code != 200 || str(out, "access_token") == "" {
		t.Fatalf("callback in the right browser: %d %v", code, out)
	}
	// Replayed callback (cookie forged to match): the state is spent.
	req, _ := http.NewRequest("GET", back, nil)
	state := req.URL.Query().Get("state")
	req.AddCookie(&http.Cookie{Name: "bot_oidc_state", Value: state})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if code, out = readJSON(resp); code != 401 {
		t.Fatalf("replayed callback: %d %v", code, out)
	}
	// The provider's own refusal is passed on as 401.
	resp, _ = http.Get(callback + "?error=access_denied&error_description=user+cancelled")
	if code, out = readJSON(resp); code != 401 || !strings.Contains(str(out, "error", "message"), "access_denied") {
		t.Fatalf("provider error: %d %v", code, out)
	}

	// The org's own provider through the API: the secret never comes back.
	anon := client{t: t, base: base}
	root := client{t: t, base: base, token: str(anon.must(200, "POST", "/api/v1/auth/login",
		map[string]string{"email": "root@example.com", "password": "root password 123"}), "access_token")}
	root.must(404, "GET", "/api/v1/org/oidc", nil)
	set := root.must(200, "PUT", "/api/v1/org/oidc", map[string]any{"issuer": p.Issuer, "client_id": p.ClientID, "client_secret": p.ClientSecret})
	got := root.must(200, "GET", "/api/v1/org/oidc", nil)
	for _, m := range []map[string]any{set, got} {
		if m["client_secret_set"] != true || m["issuer"] != p.Issuer || strings.Contains(jsonString(m), p.ClientSecret) {
			t.Fatalf("provider: %v", m)
		}
	}
	// A viewer is not an org admin; no token is 401.
	client{t: t, base: base, token: aliceTok}.must(403, "PUT", "/api/v1/org/oidc", map[string]any{"issuer": p.Issuer, "client_id": "x"})
	anon.must(401, "GET", "/api/v1/org/oidc", nil)
	root.must(204, "DELETE", "/api/v1/org/oidc", nil)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
