package botserver_test

import (
	"slices"
	"testing"
)

func strs(v any) []string {
	var out []string
	for _, x := range asList(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestAuthGroupsAPI: groups through the gateway; a group's roles reach its
// members' next token, leaving takes them away, and nobody grants through
// a group more than they hold.
func TestAuthGroupsAPI(t *testing.T) {
	base := authAPI(t)
	anon := client{t: t, base: base}
	login := anon.must(200, "POST", "/api/v1/auth/login", map[string]string{"email": "root@example.com", "password": "root password 123"})
	admin := client{t: t, base: base, token: str(login, "access_token")}

	inv := admin.must(201, "POST", "/api/v1/invitations", map[string]string{"email": "ed@example.com", "role": "viewer"})
	ed := anon.must(200, "POST", "/api/v1/auth/invitations/accept", map[string]string{"token": str(inv, "token"), "password": "editor password 1"})
	edID := str(ed, "user", "id")
	edClient := client{t: t, base: base, token: str(ed, "access_token")}
	edClient.must(403, "POST", "/api/v1/bots", map[string]any{"name": "nope"})
	edClient.must(403, "GET", "/api/v1/groups", nil)

	g := admin.must(201, "POST", "/api/v1/groups", map[string]string{"name": "Makers", "description": "they build bots"})
	gid := str(g, "id")
	admin.must(409, "POST", "/api/v1/groups", map[string]string{"name": "makers"})
	admin.must(400, "POST", "/api/v1/groups", map[string]string{"name": ""})
	admin.must(404, "GET", "/api/v1/groups/not-an-id", nil)
	if up := admin.must(200, "PATCH", "/api/v1/groups/"+gid, map[string]string{"description": "bot builders"}); str(up, "name") != "Makers" || str(up, "description") != "bot builders" {
		t.Fatalf("patch: %v", up)
	}
	admin.must(400, "PUT", "/api/v1/groups/"+gid+"/roles", map[string]any{"roles": []string{"no-such"}})
	if r := admin.must(200, "PUT", "/api/v1/groups/"+gid+"/roles", map[string]any{"roles": []string{"bot-editor"}}); !slices.Equal(strs(r["roles"]), []string{"bot-editor"}) {
		t.Fatalf("set roles: %v", r)
	}
	if m := admin.must(200, "POST", "/api/v1/groups/"+gid+"/members", map[string]string{"user_id": edID}); m["member_count"].(float64) != 1 {
		t.Fatalf("add member: %v", m)
	}
	got := admin.must(200, "GET", "/api/v1/groups/"+gid, nil)
	if members := asList(got["members"]); len(members) != 1 || str(members[0].(map[string]any), "user", "email") != "ed@example.com" {
		t.Fatalf("get: %v", got)
	}
	if u := admin.must(200, "GET", "/api/v1/users/"+edID, nil); !slices.Equal(strs(u["roles"]), []string{"bot-editor", "viewer"}) ||
		!slices.Equal(strs(u["direct_roles"]), []string{"viewer"}) || len(asList(u["groups"])) != 1 {
		t.Fatalf("user: %v", u)
	}

	// The refreshed token carries the group's permissions; /me shows them.
	ref := anon.must(200, "POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": str(ed, "refresh_token")})
	edClient.token = str(ref, "access_token")
	edClient.must(201, "POST", "/api/v1/bots", map[string]any{"name": "by-group"})
	me := edClient.must(200, "GET", "/api/v1/auth/me", nil)
	if perms := strs(me["identity"].(map[string]any)["permissions"]); !slices.Contains(perms, "bots:*") {
		t.Fatalf("me: %v", me)
	}
	// bot-editor holds members:read, not members:write: no escalation
	// through groups, even into their own.
	edClient.must(200, "GET", "/api/v1/groups", nil)
	edClient.must(403, "PUT", "/api/v1/groups/"+gid+"/roles", map[string]any{"roles": []string{"admin"}})

	// A manager with members:write but not admin's permissions.
	admin.must(201, "POST", "/api/v1/roles", map[string]any{"name": "people", "permissions": []string{"members:read", "members:write"}})
	inv2 := admin.must(201, "POST", "/api/v1/invitations", map[string]string{"email": "mgr@example.com", "role": "people"})
	mgr := anon.must(200, "POST", "/api/v1/auth/invitations/accept", map[string]string{"token": str(inv2, "token"), "password": "manager password 1"})
	mgrClient := client{t: t, base: base, token: str(mgr, "access_token")}
	admins := admin.must(201, "POST", "/api/v1/groups", map[string]string{"name": "Admins"})
	admin.must(200, "PUT", "/api/v1/groups/"+str(admins, "id")+"/roles", map[string]any{"roles": []string{"admin"}})
	mgrClient.must(403, "POST", "/api/v1/groups/"+str(admins, "id")+"/members", map[string]string{"user_id": str(mgr, "user", "id")})
	mgrClient.must(403, "DELETE", "/api/v1/groups/"+str(admins, "id"), nil)
	mgrClient.must(403, "DELETE", "/api/v1/groups/"+gid+"/members/"+edID, nil)
	own := mgrClient.must(201, "POST", "/api/v1/groups", map[string]string{"name": "Mine"})
	mgrClient.must(403, "PUT", "/api/v1/groups/"+str(own, "id")+"/roles", map[string]any{"roles": []string{"owner"}})
	mgrClient.must(200, "PUT", "/api/v1/groups/"+str(own, "id")+"/roles", map[string]any{"roles": []string{"people"}})

	// Leaving: the next token is back to viewer.
	admin.must(204, "DELETE", "/api/v1/groups/"+gid+"/members/"+edID, nil)
	admin.must(404, "DELETE", "/api/v1/groups/"+gid+"/members/"+edID, nil)
	ref = anon.must(200, "POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": str(ref, "refresh_token")})
	edClient.token = str(ref, "access_token")
	edClient.must(403, "POST", "/api/v1/bots", map[string]any{"name": "after"})

	admin.must(204, "DELETE", "/api/v1/groups/"+gid, nil)
	admin.must(404, "GET", "/api/v1/groups/"+gid, nil)
	if l := admin.must(200, "GET", "/api/v1/groups", nil); len(asList(l["groups"])) != 2 {
		t.Fatalf("list: %v", l)
	}
}
