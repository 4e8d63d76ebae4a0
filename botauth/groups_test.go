package botauth_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

// invite makes a new member with role in the org of admin and returns their login.
func (e *env) invite(admin context.Context, email, role string) *authv1.AcceptInvitationResponse {
	e.t.Helper()
	inv, err := e.cli.CreateInvitation(admin, &authv1.CreateInvitationRequest{Email: email, Role: role})
	if err != nil {
		e.t.Fatalf("invite %s: %v", email, err)
	}
	acc, err := e.cli.AcceptInvitation(context.Background(), &authv1.AcceptInvitationRequest{Token: inv.Token, Password: "member password 123"})
	if err != nil {
		e.t.Fatalf("accept %s: %v", email, err)
	}
	return acc
}

// refresh swaps the refresh token in *t for new tokens.
func (e *env) refresh(t **authv1.Tokens) context.Context {
	e.t.Helper()
	r, err := e.cli.Refresh(context.Background(), &authv1.RefreshRequest{RefreshToken: (*t).RefreshToken})
	if err != nil {
		e.t.Fatalf("refresh: %v", err)
	}
	*t = r.Tokens
	return as(r.Tokens.AccessToken)
}

func TestGroupsCRUD(t *testing.T) {
	e := start(t)
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	g, err := e.cli.CreateGroup(admin, &authv1.CreateGroupRequest{Name: " Support Team ", Description: "first line"})
	if err != nil || g.Group.Name != "Support Team" || g.Group.Description != "first line" || g.Group.Id == "" || len(g.Group.Roles) != 0 {
		t.Fatalf("create: %+v %v", g, err)
	}
	_, err = e.cli.CreateGroup(admin, &authv1.CreateGroupRequest{Name: "support TEAM"})
	code(t, err, codes.AlreadyExists, "same name, other case")
	for _, bad := range []string{"", "   ", strings.Repeat("x", 101), "two\nlines"} {
		_, err = e.cli.CreateGroup(admin, &authv1.CreateGroupRequest{Name: bad})
		code(t, err, codes.InvalidArgument, "name "+bad)
	}
	_, err = e.cli.CreateGroup(admin, &authv1.CreateGroupRequest{Name: "ok", Description: strings.Repeat("d", 1001)})
	code(t, err, codes.InvalidArgument, "long description")
	other, err := e.cli.CreateGroup(admin, &authv1.CreateGroupRequest{Name: "Auditors"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.cli.ListGroups(admin, &authv1.ListGroupsRequest{})
	if err != nil || len(l.Groups) != 2 || l.Groups[0].Name != "Auditors" || l.Groups[1].Name != "Support Team" {
		t.Fatalf("list: %+v %v", l, err)
	}
	up, err := e.cli.UpdateGroup(admin, &authv1.UpdateGroupRequest{GroupId: g.Group.Id, Description: new("second line")})
	if err != nil || up.Group.Name != "Support Team" || up.Group.Description != "second line" {
		t.Fatalf("update description: %+v %v", up, err)
	}
	_, err = e.cli.UpdateGroup(admin, &authv1.UpdateGroupRequest{GroupId: g.Group.Id, Name: new("auditors")})
	code(t, err, codes.AlreadyExists, "rename onto another group")
	up, err = e.cli.UpdateGroup(admin, &authv1.UpdateGroupRequest{GroupId: g.Group.Id, Name: new("Helpdesk")})
	if err != nil || up.Group.Name != "Helpdesk" || up.Group.Description != "second line" {
		t.Fatalf("rename: %+v %v", up, err)
	}

	// Members and roles.
	ed := e.invite(admin, "ed@example.com", "viewer")
	if _, err := e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: g.Group.Id, UserId: ed.User.Id}); err != nil {
		t.Fatal(err)
	}
	again, err := e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: g.Group.Id, UserId: ed.User.Id})
	if err != nil || again.Group.MemberCount != 1 {
		t.Fatalf("adding twice: %+v %v", again, err)
	}
	_, err = e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: g.Group.Id, UserId: "3a1d1c2e-0000-4000-8000-000000000009"})
	code(t, err, codes.NotFound, "unknown user")
	_, err = e.cli.SetGroupRoles(admin, &authv1.SetGroupRolesRequest{GroupId: g.Group.Id, Roles: []string{"no-such-role"}})
	code(t, err, codes.InvalidArgument, "unknown role")
	sr, err := e.cli.SetGroupRoles(admin, &authv1.SetGroupRolesRequest{GroupId: g.Group.Id, Roles: []string{"attendant", "bot-editor", "attendant"}})
	if err != nil || strings.Join(sr.Group.Roles, ",") != "attendant,bot-editor" {
		t.Fatalf("set roles: %+v %v", sr, err)
	}
	got, err := e.cli.GetGroup(admin, &authv1.GetGroupRequest{GroupId: g.Group.Id})
	if err != nil || len(got.Members) != 1 || got.Members[0].User.Email != "ed@example.com" || got.Group.MemberCount != 1 ||
		strings.Join(got.Group.Roles, ",") != "attendant,bot-editor" {
		t.Fatalf("get: %+v %v", got, err)
	}
	// Members without members:read cannot see groups; viewers cannot change them.
	_, err = e.cli.ListGroups(as(ed.Tokens.AccessToken), &authv1.ListGroupsRequest{})
	code(t, err, codes.PermissionDenied, "viewer listing groups")

	if _, err := e.cli.RemoveGroupMember(admin, &authv1.RemoveGroupMemberRequest{GroupId: g.Group.Id, UserId: ed.User.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.RemoveGroupMember(admin, &authv1.RemoveGroupMemberRequest{GroupId: g.Group.Id, UserId: ed.User.Id})
	code(t, err, codes.NotFound, "removing a non-member")
	if _, err := e.cli.DeleteGroup(admin, &authv1.DeleteGroupRequest{GroupId: other.Group.Id}); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"get": func() error {
			_, err := e.cli.GetGroup(admin, &authv1.GetGroupRequest{GroupId: other.Group.Id})
			return err
		},
		"update": func() error {
			_, err := e.cli.UpdateGroup(admin, &authv1.UpdateGroupRequest{GroupId: other.Group.Id, Name: new("x")})
			return err
		},
		"delete": func() error {
			_, err := e.cli.DeleteGroup(admin, &authv1.DeleteGroupRequest{GroupId: other.Group.Id})
			return err
		},
		"malformed id": func() error {
			_, err := e.cli.GetGroup(admin, &authv1.GetGroupRequest{GroupId: "not-a-uuid"})
			return err
		},
	} {
		code(t, call(), codes.NotFound, name+" of a deleted group")
	}

	var subjects []string
	if err := e.dbQuery(`SELECT array_agg(subject ORDER BY id) FROM auth.outbox WHERE subject LIKE 'bot.auth.group.%'`, &subjects); err != nil {
		t.Fatal(err)
	}
	want := "bot.auth.group.created,bot.auth.group.created,bot.auth.group.updated,bot.auth.group.updated,bot.auth.group.deleted"
	if got := strings.Join(subjects, ","); got != want {
		t.Fatalf("group events:\n%s\nwant\n%s", got, want)
	}
	var roleChanges int
	// The invitation, then joining (once, though added twice), the group's roles, leaving.
	if err := e.dbQuery(`SELECT count(*) FROM auth.outbox WHERE subject = 'bot.auth.role.changed'`, &roleChanges); err != nil || roleChanges != 4 {
		t.Fatalf("role.changed events: %d %v", roleChanges, err)
	}
}

// TestGroupPermissionsInTokens: a group's roles reach its members' next
// tokens (refresh), GetUser, GetMe and Authorize; leaving the group takes
// them away at the next refresh.
func TestGroupPermissionsInTokens(t *testing.T) {
	e := start(t)
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	svc := authz.WithToken(context.Background(), e.iss.ServiceToken("botchat"))
	ed := e.invite(admin, "ed@example.com", "viewer")
	tok := ed.Tokens
	_, err := e.cli.CreateBot(as(tok.AccessToken), &authv1.CreateBotRequest{Name: "early"})
	code(t, err, codes.PermissionDenied, "viewer creating a bot")

	if _, err := e.cli.CreateRole(admin, &authv1.CreateRoleRequest{Name: "bot-maker", Permissions: []string{"bots:write"}}); err != nil {
		t.Fatal(err)
	}
	g, err := e.cli.CreateGroup(admin, &authv1.CreateGroupRequest{Name: "Makers"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.SetGroupRoles(admin, &authv1.SetGroupRolesRequest{GroupId: g.Group.Id, Roles: []string{"bot-maker"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: g.Group.Id, UserId: ed.User.Id}); err != nil {
		t.Fatal(err)
	}
	// The access token in hand is unchanged until it is refreshed.
	_, err = e.cli.CreateBot(as(tok.AccessToken), &authv1.CreateBotRequest{Name: "early"})
	code(t, err, codes.PermissionDenied, "old token after joining")
	edCtx := e.refresh(&tok)
	if _, err := e.cli.CreateBot(edCtx, &authv1.CreateBotRequest{Name: "made-by-group"}); err != nil {
		t.Fatalf("group member creating a bot: %v", err)
	}
	az, err := e.cli.Authorize(svc, &authv1.AuthorizeRequest{Token: tok.AccessToken, Permission: "bots:write"})
	if err != nil || !az.Allowed || !slices.Contains(az.Identity.Roles, "bot-maker") || !slices.Contains(az.Identity.Roles, "viewer") {
		t.Fatalf("authorize: %+v %v", az, err)
	}
	u, err := e.cli.GetUser(admin, &authv1.GetUserRequest{UserId: ed.User.Id})
	if err != nil || strings.Join(u.Roles, ",") != "bot-maker,viewer" || strings.Join(u.DirectRoles, ",") != "viewer" ||
		!slices.Contains(u.Permissions, "bots:write") || len(u.Groups) != 1 || u.Groups[0].Name != "Makers" {
		t.Fatalf("get user: %+v %v", u, err)
	}
	me, err := e.cli.GetMe(edCtx, &authv1.GetMeRequest{})
	if err != nil || !slices.Contains(me.Identity.Permissions, "bots:write") || len(me.Memberships) != 1 ||
		strings.Join(me.Memberships[0].Roles, ",") != "bot-maker,viewer" {
		t.Fatalf("me: %+v %v", me, err)
	}
	// A role held both directly and through a group is listed once.
	if _, err := e.cli.SetMemberRoles(admin, &authv1.SetMemberRolesRequest{UserId: ed.User.Id, Roles: []string{"bot-maker", "viewer"}}); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.cli.GetUser(admin, &authv1.GetUserRequest{UserId: ed.User.Id}); strings.Join(u.GetRoles(), ",") != "bot-maker,viewer" {
		t.Fatalf("duplicate roles: %v", u.GetRoles())
	}
	if _, err := e.cli.SetMemberRoles(admin, &authv1.SetMemberRolesRequest{UserId: ed.User.Id, Roles: []string{"viewer"}}); err != nil {
		t.Fatal(err)
	}

	// Leaving the group: the next token has no bots:write.
	if _, err := e.cli.RemoveGroupMember(admin, &authv1.RemoveGroupMemberRequest{GroupId: g.Group.Id, UserId: ed.User.Id}); err != nil {
		t.Fatal(err)
	}
	edCtx = e.refresh(&tok)
	_, err = e.cli.CreateBot(edCtx, &authv1.CreateBotRequest{Name: "after-leaving"})
	code(t, err, codes.PermissionDenied, "creating a bot after leaving the group")
	if az, err := e.cli.Authorize(svc, &authv1.AuthorizeRequest{Token: tok.AccessToken, Permission: "bots:write"}); err != nil || az.Allowed {
		t.Fatalf("authorize after leaving: %+v %v", az, err)
	}

	// Changing the group's roles reaches members at their next refresh too;
	// deleting the group takes them away.
	if _, err := e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: g.Group.Id, UserId: ed.User.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.SetGroupRoles(admin, &authv1.SetGroupRolesRequest{GroupId: g.Group.Id, Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	edCtx = e.refresh(&tok)
	if _, err := e.cli.ListInvitations(edCtx, &authv1.ListInvitationsRequest{}); err != nil {
		t.Fatalf("admin through the group: %v", err)
	}
	if _, err := e.cli.DeleteGroup(admin, &authv1.DeleteGroupRequest{GroupId: g.Group.Id}); err != nil {
		t.Fatal(err)
	}
	edCtx = e.refresh(&tok)
	_, err = e.cli.ListInvitations(edCtx, &authv1.ListInvitationsRequest{})
	code(t, err, codes.PermissionDenied, "after the group was deleted")

	// Leaving the org leaves its groups.
	g2, _ := e.cli.CreateGroup(admin, &authv1.CreateGroupRequest{Name: "Temp"})
	if _, err := e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: g2.Group.Id, UserId: ed.User.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.RemoveMember(admin, &authv1.RemoveMemberRequest{UserId: ed.User.Id}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.cli.GetGroup(admin, &authv1.GetGroupRequest{GroupId: g2.Group.Id}); err != nil || len(got.Members) != 0 {
		t.Fatalf("group after the member left the org: %+v %v", got, err)
	}
	// Events: who joined or left which group, and the group's role changes.
	var n int
	if err := e.dbQuery(`SELECT count(*) FROM auth.outbox WHERE subject = 'bot.auth.role.changed'`, &n); err != nil || n < 6 {
		t.Fatalf("role.changed events: %d %v", n, err)
	}
}

// TestGroupsCannotEscalate: someone with members:write but not a group's
// permissions cannot join it, add others, give it roles, take them away
// or delete it.
func TestGroupsCannotEscalate(t *testing.T) {
	e := start(t)
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	if _, err := e.cli.CreateRole(admin, &authv1.CreateRoleRequest{Name: "people", Permissions: []string{"members:read", "members:write", "bots:read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.CreateRole(admin, &authv1.CreateRoleRequest{Name: "reader", Permissions: []string{"bots:read"}}); err != nil {
		t.Fatal(err)
	}
	mgr := e.invite(admin, "mgr@example.com", "people")
	pal := e.invite(admin, "pal@example.com", "viewer")
	m := as(mgr.Tokens.AccessToken)
	admins, err := e.cli.CreateGroup(admin, &authv1.CreateGroupRequest{Name: "Admins"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.SetGroupRoles(admin, &authv1.SetGroupRolesRequest{GroupId: admins.Group.Id, Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: admins.Group.Id, UserId: pal.User.Id}); err != nil {
		t.Fatal(err)
	}
	own, err := e.cli.CreateGroup(m, &authv1.CreateGroupRequest{Name: "Mine"})
	if err != nil {
		t.Fatalf("members:write creates a group: %v", err)
	}
	for name, call := range map[string]func() error{
		"join the admins group": func() error {
			_, err := e.cli.AddGroupMember(m, &authv1.AddGroupMemberRequest{GroupId: admins.Group.Id, UserId: mgr.User.Id})
			return err
		},
		"take someone out of the admins group": func() error {
			_, err := e.cli.RemoveGroupMember(m, &authv1.RemoveGroupMemberRequest{GroupId: admins.Group.Id, UserId: pal.User.Id})
			return err
		},
		"delete the admins group": func() error {
			_, err := e.cli.DeleteGroup(m, &authv1.DeleteGroupRequest{GroupId: admins.Group.Id})
			return err
		},
		"change the admins group's roles": func() error {
			_, err := e.cli.SetGroupRoles(m, &authv1.SetGroupRolesRequest{GroupId: admins.Group.Id, Roles: []string{"reader"}})
			return err
		},
		"give their own group admin": func() error {
			_, err := e.cli.SetGroupRoles(m, &authv1.SetGroupRolesRequest{GroupId: own.Group.Id, Roles: []string{"admin"}})
			return err
		},
		"give their own group owner": func() error {
			_, err := e.cli.SetGroupRoles(m, &authv1.SetGroupRolesRequest{GroupId: own.Group.Id, Roles: []string{"owner"}})
			return err
		},
		"give their own group viewer (files:read they lack)": func() error {
			_, err := e.cli.SetGroupRoles(m, &authv1.SetGroupRolesRequest{GroupId: own.Group.Id, Roles: []string{"reader", "viewer"}})
			return err
		},
	} {
		code(t, call(), codes.PermissionDenied, name)
	}
	// What they hold they may pass on.
	if _, err := e.cli.SetGroupRoles(m, &authv1.SetGroupRolesRequest{GroupId: own.Group.Id, Roles: []string{"reader"}}); err != nil {
		t.Fatalf("granting a role they hold: %v", err)
	}
	if _, err := e.cli.AddGroupMember(m, &authv1.AddGroupMemberRequest{GroupId: own.Group.Id, UserId: mgr.User.Id}); err != nil {
		t.Fatal(err)
	}
	// Nothing reached the manager's next token, and the admins group is intact.
	tok := mgr.Tokens
	e.refresh(&tok)
	az, err := e.cli.Authorize(authz.WithToken(context.Background(), e.iss.ServiceToken("botchat")),
		&authv1.AuthorizeRequest{Token: tok.AccessToken, Permission: "org:admin"})
	if err != nil || az.Allowed || strings.Join(az.Identity.Roles, ",") != "people,reader" {
		t.Fatalf("manager after the attempts: %+v %v", az, err)
	}
	got, err := e.cli.GetGroup(admin, &authv1.GetGroupRequest{GroupId: admins.Group.Id})
	if err != nil || len(got.Members) != 1 || got.Members[0].User.Id != pal.User.Id || strings.Join(got.Group.Roles, ",") != "admin" {
		t.Fatalf("admins group changed: %+v %v", got, err)
	}
	// An API key with members:write only cannot either.
	k, err := e.cli.CreateApiKey(admin, &authv1.CreateApiKeyRequest{Name: "hr", Permissions: []string{"members:write"}})
	if err != nil {
		t.Fatal(err)
	}
	kt, err := e.cli.ExchangeApiKey(context.Background(), &authv1.ExchangeApiKeyRequest{ApiKey: k.Secret})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.AddGroupMember(as(kt.Tokens.AccessToken), &authv1.AddGroupMemberRequest{GroupId: admins.Group.Id, UserId: mgr.User.Id})
	code(t, err, codes.PermissionDenied, "API key adding to the admins group")
}

// TestGroupsTenantIsolation: the other org's group and member ids are
// NotFound everywhere, lists hold only the caller's groups, and RLS plus
// the composite keys refuse cross-org rows even to a raw query.
func TestGroupsTenantIsolation(t *testing.T) {
	e := start(t)
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	o2, err := e.cli.CreateOrg(admin, &authv1.CreateOrgRequest{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	org2 := as(o2.Tokens.AccessToken)
	type world struct{ group, member string }
	mk := func(ctx context.Context, email string) world {
		g, err := e.cli.CreateGroup(ctx, &authv1.CreateGroupRequest{Name: "Support", Description: email})
		if err != nil {
			t.Fatal(err)
		}
		u := e.invite(ctx, email, "viewer")
		if _, err := e.cli.AddGroupMember(ctx, &authv1.AddGroupMemberRequest{GroupId: g.Group.Id, UserId: u.User.Id}); err != nil {
			t.Fatal(err)
		}
		return world{group: g.Group.Id, member: u.User.Id}
	}
	w1 := mk(admin, "one@example.com")
	w2 := mk(org2, "two@example.com")
	for name, call := range map[string]func() error{
		"GetGroup": func() error { _, err := e.cli.GetGroup(admin, &authv1.GetGroupRequest{GroupId: w2.group}); return err },
		"UpdateGroup": func() error {
			_, err := e.cli.UpdateGroup(admin, &authv1.UpdateGroupRequest{GroupId: w2.group, Name: new("pwned")})
			return err
		},
		"DeleteGroup": func() error {
			_, err := e.cli.DeleteGroup(admin, &authv1.DeleteGroupRequest{GroupId: w2.group})
			return err
		},
		"SetGroupRoles": func() error {
			_, err := e.cli.SetGroupRoles(admin, &authv1.SetGroupRolesRequest{GroupId: w2.group, Roles: []string{"admin"}})
			return err
		},
		"AddGroupMember other group": func() error {
			_, err := e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: w2.group, UserId: w1.member})
			return err
		},
		"AddGroupMember other member": func() error {
			_, err := e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: w1.group, UserId: w2.member})
			return err
		},
		"RemoveGroupMember other group": func() error {
			_, err := e.cli.RemoveGroupMember(admin, &authv1.RemoveGroupMemberRequest{GroupId: w2.group, UserId: w2.member})
			return err
		},
		"RemoveGroupMember other member": func() error {
			_, err := e.cli.RemoveGroupMember(admin, &authv1.RemoveGroupMemberRequest{GroupId: w1.group, UserId: w2.member})
			return err
		},
	} {
		code(t, call(), codes.NotFound, name+" with the other org's id")
	}
	l1, _ := e.cli.ListGroups(admin, &authv1.ListGroupsRequest{})
	l2, _ := e.cli.ListGroups(org2, &authv1.ListGroupsRequest{})
	if len(l1.GetGroups()) != 1 || l1.Groups[0].Id != w1.group || len(l2.GetGroups()) != 1 || l2.Groups[0].Id != w2.group {
		t.Fatalf("lists: %v / %v", l1, l2)
	}
	g2, err := e.cli.GetGroup(org2, &authv1.GetGroupRequest{GroupId: w2.group})
	if err != nil || g2.Group.Name != "Support" || len(g2.Group.Roles) != 0 || len(g2.Members) != 1 || g2.Members[0].User.Id != w2.member {
		t.Fatalf("org 2's group changed: %+v %v", g2, err)
	}

	// Under RLS, even raw statements cannot see or link across orgs.
	ctx := context.Background()
	err = pg.InOrg(ctx, e.db, authz.DefaultOrgID, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM auth.groups) + (SELECT count(*) FROM auth.group_members)
			+ (SELECT count(*) FROM auth.group_roles)`).Scan(&n); err != nil {
			return err
		}
		if n != 2 { // org 1's group and its member
			t.Errorf("rows visible to org 1: %d", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cross := map[string]string{
		"group of org 2 (RLS)":                       `INSERT INTO auth.groups (id, org_id, name) VALUES (gen_random_uuid(), '` + o2.Org.Id + `', 'x')`,
		"org 2's group with org 1's id (key)":        `INSERT INTO auth.group_members (org_id, group_id, user_id) VALUES ('` + authz.DefaultOrgID + `', '` + w2.group + `', '` + w1.member + `')`,
		"org 2's member in org 1's group (key)":      `INSERT INTO auth.group_members (org_id, group_id, user_id) VALUES ('` + authz.DefaultOrgID + `', '` + w1.group + `', '` + w2.member + `')`,
		"org 2's group roles written as org 1 (key)": `INSERT INTO auth.group_roles (org_id, group_id, role_id) VALUES ('` + authz.DefaultOrgID + `', '` + w2.group + `', gen_random_uuid())`,
	}
	for name, q := range cross {
		err := pg.InOrg(ctx, e.db, authz.DefaultOrgID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, q)
			return err
		})
		if err == nil || !(strings.Contains(err.Error(), "row-level security") || strings.Contains(err.Error(), "foreign key")) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A role id of org 2 in org 1's group: the composite key refuses it.
	var role2 string
	if err := e.db.QueryRow(ctx, `SELECT id FROM auth.roles WHERE org_id = $1 AND name = 'admin'`, o2.Org.Id).Scan(&role2); err != nil {
		t.Fatal(err)
	}
	err = pg.InOrg(ctx, e.db, authz.DefaultOrgID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO auth.group_roles (org_id, group_id, role_id) VALUES ($1, $2, $3)`, authz.DefaultOrgID, w1.group, role2)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "foreign key") {
		t.Fatalf("org 2's role in org 1's group: %v", err)
	}
}
