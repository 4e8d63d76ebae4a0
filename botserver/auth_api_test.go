package botserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botauth"
	authapi "github.com/botserver-go/botserver-go/botcore/api/auth"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
)

// authAPI runs botauth in-process behind a real gateway with the auth
// routes mounted, as botcore mounts them.
func authAPI(t *testing.T) string {
	t.Helper()
	addrs := apptest.Start(t, []string{"BOOTSTRAP_ADMIN_EMAIL=root@example.com", "BOOTSTRAP_ADMIN_PASSWORD=root password 123"}, botauth.Service())
	return behindGateway(t, addrs.GRPC, authapi.Register)
}

type client struct {
	t     *testing.T
	base  string
	token string
}

func (c client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			c.t.Fatalf("%s %s: not JSON: %s", method, path, b)
		}
	}
	return resp.StatusCode, out
}

func (c client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	code, out := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: %d %v, want %d", method, path, code, out, want)
	}
	return out
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

func TestAuthAPI(t *testing.T) {
	base := authAPI(t)
	anon := client{t: t, base: base}
	login := anon.must(200, "POST", "/api/v1/auth/login", map[string]string{"email": "root@example.com", "password": "root password 123"})
	if login["token_type"] != "Bearer" || login["expires_in"].(float64) != 900 || str(login, "user", "email") != "root@example.com" {
		t.Fatalf("login: %v", login)
	}
	admin := client{t: t, base: base, token: str(login, "access_token")}
	if me := admin.must(200, "GET", "/api/v1/auth/me", nil); str(me, "org", "slug") != "default" {
		t.Fatalf("me: %v", me)
	}
	// Missing, garbage, forged and expired tokens: 401 in the JSON error format.
	iss := authztest.NewIssuer(t)
	for name, tok := range map[string]string{
		"missing": "", "garbage": "abc.def.ghi", "forged": iss.User(authz.DefaultOrgID, "*"),
		"expired": iss.TokenAt(authz.Identity{Kind: authz.KindUser, OrgID: authz.DefaultOrgID}, time.Now().Add(-time.Hour), time.Minute),
	} {
		code, out := client{t: t, base: base, token: tok}.do("GET", "/api/v1/auth/me", nil)
		if code != 401 || str(out, "error", "code") != "unauthorized" {
			t.Errorf("%s token: %d %v", name, code, out)
		}
	}
	// Wrong password and unknown email look the same.
	_, a := anon.do("POST", "/api/v1/auth/login", map[string]string{"email": "root@example.com", "password": "nope nope nope"})
	_, b := anon.do("POST", "/api/v1/auth/login", map[string]string{"email": "ghost@example.com", "password": "nope nope nope"})
	if str(a, "error", "message") != str(b, "error", "message") || str(a, "error", "code") != "unauthorized" {
		t.Fatalf("login errors differ: %v / %v", a, b)
	}

	// JWKS is public and lists the key that signed the admin's token.
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	keys, err := authz.ParseJWKS(jwks)
	if err != nil || len(keys) == 0 {
		t.Fatalf("jwks: %s %v", jwks, err)
	}

	// Refresh, reuse, logout.
	ref := anon.must(200, "POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": str(login, "refresh_token")})
	anon.must(401, "POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": str(login, "refresh_token")})
	anon.must(401, "POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": str(ref, "refresh_token")})
	l2 := anon.must(200, "POST", "/api/v1/auth/login", map[string]string{"email": "root@example.com", "password": "root password 123"})
	anon.must(204, "POST", "/api/v1/auth/logout", map[string]string{"refresh_token": str(l2, "refresh_token")})
	anon.must(401, "POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": str(l2, "refresh_token")})

	// Bots, visitors.
	admin.must(201, "POST", "/api/v1/bots", map[string]any{"name": "support", "title": "Support", "public": true})
	admin.must(409, "POST", "/api/v1/bots", map[string]any{"name": "support"})
	if b := admin.must(200, "GET", "/api/v1/bots/support", nil); str(b, "title") != "Support" {
		t.Fatalf("bot by name: %v", b)
	}
	admin.must(200, "PATCH", "/api/v1/bots/support", map[string]any{"title": "Help"})
	v := anon.must(201, "POST", "/api/v1/sessions", map[string]string{"bot": "support"})
	if str(v, "session_id") == "" || str(v, "token") == "" {
		t.Fatalf("visitor: %v", v)
	}
	visitor := client{t: t, base: base, token: str(v, "token")}
	visitor.must(403, "GET", "/api/v1/bots", nil)
	anon.must(404, "POST", "/api/v1/sessions", map[string]string{"bot": "nope"})

	// API key scopes.
	k := admin.must(201, "POST", "/api/v1/apikeys", map[string]any{"name": "ro", "permissions": []string{"bots:read"}})
	kt := anon.must(200, "POST", "/api/v1/auth/token", map[string]string{"api_key": str(k, "secret")})
	key := client{t: t, base: base, token: str(kt, "access_token")}
	key.must(200, "GET", "/api/v1/bots", nil)
	key.must(403, "POST", "/api/v1/bots", map[string]any{"name": "nope"})

	// Invitations, roles, members.
	inv := admin.must(201, "POST", "/api/v1/invitations", map[string]string{"email": "ed@example.com", "role": "bot-editor"})
	acc := anon.must(200, "POST", "/api/v1/auth/invitations/accept", map[string]string{"token": str(inv, "token"), "password": "editor password 1"})
	editor := client{t: t, base: base, token: str(acc, "access_token")}
	editor.must(403, "POST", "/api/v1/invitations", map[string]string{"email": "x@example.com"})
	role := admin.must(201, "POST", "/api/v1/roles", map[string]any{"name": "reader", "permissions": []string{"bots:read"}})
	admin.must(200, "PUT", "/api/v1/members/"+str(acc, "user", "id")+"/roles", map[string]any{"roles": []string{"reader"}})
	admin.must(200, "GET", "/api/v1/members", nil)
	admin.must(200, "PATCH", "/api/v1/roles/"+str(role, "id"), map[string]any{"permissions": []string{"bots:read", "kb:read"}})
	admin.must(200, "GET", "/api/v1/roles", nil)
	admin.must(200, "PATCH", "/api/v1/org", map[string]string{"name": "Renamed"})
	if o := admin.must(200, "GET", "/api/v1/org", nil); str(o, "name") != "Renamed" {
		t.Fatalf("org: %v", o)
	}
	admin.must(204, "DELETE", "/api/v1/members/"+str(acc, "user", "id"), nil)
	admin.must(204, "DELETE", "/api/v1/bots/support", nil)
	admin.must(404, "GET", "/api/v1/bots/support", nil)
	code, out := admin.do("POST", "/api/v1/bots", strings.Repeat("x", 10))
	if code != 400 {
		t.Fatalf("bad body: %d %v", code, out)
	}
}

// TestAuthTenantIsolation: two orgs with the same bot and role names;
// through the HTTP API every id of the other org is a 404.
func TestAuthTenantIsolation(t *testing.T) {
	base := authAPI(t)
	anon := client{t: t, base: base}
	login := anon.must(200, "POST", "/api/v1/auth/login", map[string]string{"email": "root@example.com", "password": "root password 123"})
	one := client{t: t, base: base, token: str(login, "access_token")}
	o2 := one.must(201, "POST", "/api/v1/orgs", map[string]string{"slug": "acme", "name": "Acme"})
	two := client{t: t, base: base, token: str(o2, "tokens", "access_token")}
	ids := map[string]map[string]string{}
	for name, c := range map[string]client{"one": one, "two": two} {
		b := c.must(201, "POST", "/api/v1/bots", map[string]any{"name": "support", "title": name, "public": true})
		r := c.must(201, "POST", "/api/v1/roles", map[string]any{"name": "custom", "permissions": []string{"bots:read"}})
		k := c.must(201, "POST", "/api/v1/apikeys", map[string]any{"name": "k", "permissions": []string{"bots:read"}})
		i := c.must(201, "POST", "/api/v1/invitations", map[string]string{"email": name + "@example.com"})
		a := anon.must(200, "POST", "/api/v1/auth/invitations/accept", map[string]string{"token": str(i, "token"), "password": "member password 1"})
		i2 := c.must(201, "POST", "/api/v1/invitations", map[string]string{"email": "later-" + name + "@example.com"})
		g := c.must(201, "POST", "/api/v1/groups", map[string]string{"name": "Support", "description": name})
		c.must(200, "POST", "/api/v1/groups/"+str(g, "id")+"/members", map[string]string{"user_id": str(a, "user", "id")})
		ids[name] = map[string]string{"bot": str(b, "id"), "role": str(r, "id"), "key": str(k, "api_key", "id"),
			"user": str(a, "user", "id"), "inv": str(i2, "invitation", "id"), "group": str(g, "id")}
	}
	other := ids["two"]
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/bots/" + other["bot"]},
		{"PATCH", "/api/v1/bots/" + other["bot"]},
		{"DELETE", "/api/v1/bots/" + other["bot"]},
		{"GET", "/api/v1/users/" + other["user"]},
		{"PUT", "/api/v1/members/" + other["user"] + "/roles"},
		{"DELETE", "/api/v1/members/" + other["user"]},
		{"PATCH", "/api/v1/roles/" + other["role"]},
		{"DELETE", "/api/v1/roles/" + other["role"]},
		{"DELETE", "/api/v1/apikeys/" + other["key"]},
		{"DELETE", "/api/v1/invitations/" + other["inv"]},
		{"GET", "/api/v1/groups/" + other["group"]},
		{"PATCH", "/api/v1/groups/" + other["group"]},
		{"DELETE", "/api/v1/groups/" + other["group"]},
		{"PUT", "/api/v1/groups/" + other["group"] + "/roles"},
		{"POST", "/api/v1/groups/" + other["group"] + "/members"},
		{"POST", "/api/v1/groups/" + ids["one"]["group"] + "/members"}, // org two's user into org one's group
		{"DELETE", "/api/v1/groups/" + other["group"] + "/members/" + other["user"]},
		{"DELETE", "/api/v1/groups/" + ids["one"]["group"] + "/members/" + other["user"]},
	} {
		var body any
		switch c.method {
		case "PATCH":
			body = map[string]any{"title": "pwned", "permissions": []string{"bots:read"}}
		case "PUT":
			body = map[string]any{"roles": []string{"viewer"}}
		case "POST":
			body = map[string]any{"user_id": other["user"]}
		}
		code, out := one.do(c.method, c.path, body)
		if code != 404 || str(out, "error", "code") != "not_found" {
			t.Errorf("%s %s with org two's id: %d %v, want 404", c.method, c.path, code, out)
		}
	}
	if b := two.must(200, "GET", "/api/v1/bots/support", nil); str(b, "id") != other["bot"] || str(b, "title") != "two" {
		t.Fatalf("org two's bot changed or leaked: %v", b)
	}
	if g := two.must(200, "GET", "/api/v1/groups/"+other["group"], nil); str(g, "group", "name") != "Support" ||
		str(g, "group", "description") != "two" || len(g["members"].([]any)) != 1 {
		t.Fatalf("org two's group changed or leaked: %v", g)
	}
	if l := one.must(200, "GET", "/api/v1/groups", nil); len(l["groups"].([]any)) != 1 || str(l["groups"].([]any)[0].(map[string]any), "id") != ids["one"]["group"] {
		t.Fatalf("org one's groups: %v", l)
	}
	if b := one.must(200, "GET", "/api/v1/bots/support", nil); str(b, "id") != ids["one"]["bot"] {
		t.Fatalf("org one's support: %v", b)
	}
	// Visitors pick the org by slug; the default org otherwise.
	v := anon.must(201, "POST", "/api/v1/sessions", map[string]string{"bot": "support", "org": "acme"})
	if str(v, "bot_id") != other["bot"] {
		t.Fatalf("visitor of acme/support got %v", v)
	}
	v = anon.must(201, "POST", "/api/v1/sessions", map[string]string{"bot": "support"})
	if str(v, "bot_id") != ids["one"]["bot"] {
		t.Fatalf("visitor of default/support got %v", v)
	}
}
