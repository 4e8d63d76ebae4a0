package botauth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botserver-go/botserver-go/botauth"
	"github.com/botserver-go/botserver-go/botstate/apptest"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/authz/authztest"
	"github.com/botserver-go/botserver-go/botstate/grpcx"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

const (
	adminEmail = "admin@example.com"
	adminPass  = "correct horse battery staple"
)

type env struct {
	t    *testing.T
	cli  authv1.AuthServiceClient
	db   *pgxpool.Pool
	iss  *authztest.Issuer // its service key is the platform's AUTH_SERVICE_KEY
	addr string
}

func start(t *testing.T, extra ...string) *env {
	t.Helper()
	iss := authztest.NewIssuer(t)
	dbURL := testutil.NewDatabase(t)
	e := append([]string{"DATABASE_URL=" + dbURL, "BOOTSTRAP_ADMIN_EMAIL=" + adminEmail, "BOOTSTRAP_ADMIN_PASSWORD=" + adminPass,
		"AUTH_SERVICE_KEY=" + iss.Service.EncodeSeed(), "AUTH_LOCKOUT_THRESHOLD=3"}, extra...)
	addrs := apptest.Start(t, e, botauth.Service())
	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	cc, err := grpcx.Dial(addrs.GRPC, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return &env{t: t, cli: authv1.NewAuthServiceClient(cc), iss: iss, addr: addrs.GRPC, db: db}
}

func as(token string) context.Context { return authz.WithToken(context.Background(), token) }

func (e *env) login(email, pass, org string) *authv1.LoginResponse {
	e.t.Helper()
	r, err := e.cli.Login(context.Background(), &authv1.LoginRequest{Email: email, Password: pass, Org: org})
	if err != nil {
		e.t.Fatalf("login %s: %v", email, err)
	}
	return r
}

func code(t *testing.T, err error, want codes.Code, what string) {
	t.Helper()
	if status.Code(err) != want {
		t.Fatalf("%s: got %v, want %s", what, err, want)
	}
}

func TestLoginRefreshLogoutMe(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	r := e.login("  Admin@Example.com ", adminPass, "")
	if r.Tokens.OrgId != authz.DefaultOrgID || r.User.Email != adminEmail || r.Tokens.RefreshToken == "" {
		t.Fatalf("login: %+v", r)
	}
	me, err := e.cli.GetMe(as(r.Tokens.AccessToken), &authv1.GetMeRequest{})
	if err != nil || me.User.Email != adminEmail || me.Org.Slug != "default" || len(me.Memberships) != 1 ||
		me.Identity.Kind != "user" || !strings.Contains(strings.Join(me.Identity.Roles, ","), "owner") {
		t.Fatalf("me: %+v %v", me, err)
	}
	// Missing, forged, expired and alg=none tokens: Unauthenticated.
	_, err = e.cli.GetMe(ctx, &authv1.GetMeRequest{})
	code(t, err, codes.Unauthenticated, "no token")
	_, err = e.cli.GetMe(as(e.iss.User(authz.DefaultOrgID, "*")), &authv1.GetMeRequest{})
	code(t, err, codes.Unauthenticated, "forged")
	parts := strings.Split(r.Tokens.AccessToken, ".")
	_, err = e.cli.GetMe(as("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."+parts[1]+"."), &authv1.GetMeRequest{})
	code(t, err, codes.Unauthenticated, "alg none")

	// Refresh rotates; the old refresh token replayed revokes the family.
	r2, err := e.cli.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: r.Tokens.RefreshToken})
	if err != nil || r2.Tokens.RefreshToken == r.Tokens.RefreshToken {
		t.Fatalf("refresh: %v", err)
	}
	_, err = e.cli.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: r.Tokens.RefreshToken})
	code(t, err, codes.Unauthenticated, "reuse")
	_, err = e.cli.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: r2.Tokens.RefreshToken})
	code(t, err, codes.Unauthenticated, "newest token after reuse (family revoked)")

	// Logout ends a session.
	r3 := e.login(adminEmail, adminPass, "")
	if _, err := e.cli.Logout(ctx, &authv1.LogoutRequest{RefreshToken: r3.Tokens.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: r3.Tokens.RefreshToken})
	code(t, err, codes.Unauthenticated, "refresh after logout")
	_, err = e.cli.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: "brt_garbage"})
	code(t, err, codes.Unauthenticated, "garbage refresh")
}

// TestLockoutRevealsNothing: an existing and a made-up email answer the
// same way, before and after lockout; the right password is refused while
// locked.
func TestLockoutRevealsNothing(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	for _, email := range []string{adminEmail, "nobody@example.com"} {
		var msgs []string
		for range 3 {
			_, err := e.cli.Login(ctx, &authv1.LoginRequest{Email: email, Password: "wrong password here"})
			code(t, err, codes.Unauthenticated, "bad password "+email)
			msgs = append(msgs, status.Convert(err).Message())
		}
		_, err := e.cli.Login(ctx, &authv1.LoginRequest{Email: email, Password: "wrong password here"})
		code(t, err, codes.ResourceExhausted, "locked "+email)
		msgs = append(msgs, strings.Split(status.Convert(err).Message(), ":")[0])
		if got := strings.Join(msgs, "|"); got != "invalid email or password|invalid email or password|invalid email or password|too many failed logins for this email" {
			t.Fatalf("%s: %s", email, got)
		}
	}
	_, err := e.cli.Login(ctx, &authv1.LoginRequest{Email: adminEmail, Password: adminPass})
	code(t, err, codes.ResourceExhausted, "right password while locked")
}

func TestAPIKeyScopes(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	if _, err := e.cli.CreateBot(admin, &authv1.CreateBotRequest{Name: "sales", Title: "Sales"}); err != nil {
		t.Fatal(err)
	}
	k, err := e.cli.CreateApiKey(admin, &authv1.CreateApiKeyRequest{Name: "ci", Permissions: []string{"bots:read"}})
	if err != nil || !strings.HasPrefix(k.Secret, "bak_") {
		t.Fatalf("create key: %v", err)
	}
	tok, err := e.cli.ExchangeApiKey(ctx, &authv1.ExchangeApiKeyRequest{ApiKey: k.Secret})
	if err != nil {
		t.Fatal(err)
	}
	key := as(tok.Tokens.AccessToken)
	if l, err := e.cli.ListBots(key, &authv1.ListBotsRequest{}); err != nil || len(l.Bots) != 1 {
		t.Fatalf("list with key: %v %v", l, err)
	}
	_, err = e.cli.CreateBot(key, &authv1.CreateBotRequest{Name: "evil"})
	code(t, err, codes.PermissionDenied, "write with a read key")
	_, err = e.cli.CreateApiKey(key, &authv1.CreateApiKeyRequest{Name: "more", Permissions: []string{"bots:read"}})
	code(t, err, codes.PermissionDenied, "API key minting keys")
	// Services can check an API key directly.
	svc := authz.WithToken(context.Background(), e.iss.ServiceToken("botchat"))
	az, err := e.cli.Authorize(svc, &authv1.AuthorizeRequest{Token: k.Secret, Permission: "bots:write"})
	if err != nil || az.Allowed || az.Identity.Kind != "apikey" {
		t.Fatalf("authorize: %+v %v", az, err)
	}
	if _, err := e.cli.RevokeApiKey(admin, &authv1.RevokeApiKeyRequest{ApiKeyId: k.ApiKey.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.ExchangeApiKey(ctx, &authv1.ExchangeApiKeyRequest{ApiKey: k.Secret})
	code(t, err, codes.Unauthenticated, "revoked key")
	// A viewer cannot mint a key with more than they hold.
	_, err = e.cli.CreateApiKey(admin, &authv1.CreateApiKeyRequest{Name: "all", Permissions: []string{"no such"}})
	code(t, err, codes.InvalidArgument, "malformed permission")
}

func TestBotsVisitorsAndEnsureBot(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	pub, err := e.cli.CreateBot(admin, &authv1.CreateBotRequest{Name: "helpdesk", Title: "Help", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.CreateBot(admin, &authv1.CreateBotRequest{Name: "internal"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.CreateBot(admin, &authv1.CreateBotRequest{Name: "helpdesk"})
	code(t, err, codes.AlreadyExists, "duplicate name")
	_, err = e.cli.CreateBot(admin, &authv1.CreateBotRequest{Name: "Bad Name"})
	code(t, err, codes.InvalidArgument, "bad name")

	v, err := e.cli.CreateVisitorSession(ctx, &authv1.CreateVisitorSessionRequest{Bot: "helpdesk"})
	if err != nil || v.BotId != pub.Bot.Id || v.SessionId == "" {
		t.Fatalf("visitor: %+v %v", v, err)
	}
	me, err := e.cli.GetMe(as(v.Token), &authv1.GetMeRequest{})
	if err != nil || me.Identity.Kind != "visitor" || me.Identity.BotId != pub.Bot.Id || strings.Join(me.Identity.Permissions, ",") != "chat:use" {
		t.Fatalf("visitor identity: %+v %v", me, err)
	}
	_, err = e.cli.ListBots(as(v.Token), &authv1.ListBotsRequest{})
	code(t, err, codes.PermissionDenied, "visitor listing bots")
	for _, bot := range []string{"internal", "nope"} {
		_, err = e.cli.CreateVisitorSession(ctx, &authv1.CreateVisitorSessionRequest{Bot: bot})
		code(t, err, codes.NotFound, "visitor of "+bot)
	}

	// EnsureBot: services only, idempotent, in the org the service names.
	svc := authz.WithToken(context.Background(), e.iss.ServiceToken("botauto"))
	_, err = e.cli.EnsureBot(admin, &authv1.EnsureBotRequest{OrgId: authz.DefaultOrgID, Name: "pkg"})
	code(t, err, codes.PermissionDenied, "user calling EnsureBot")
	first, err := e.cli.EnsureBot(svc, &authv1.EnsureBotRequest{OrgId: authz.DefaultOrgID, Name: "pkg", Title: "From storage", Public: true})
	if err != nil || !first.Created {
		t.Fatalf("ensure: %+v %v", first, err)
	}
	again, err := e.cli.EnsureBot(svc, &authv1.EnsureBotRequest{OrgId: authz.DefaultOrgID, Name: "pkg", Title: "changed"})
	if err != nil || again.Created || again.Bot.Id != first.Bot.Id || again.Bot.Title != "From storage" {
		t.Fatalf("ensure again: %+v %v", again, err)
	}
	_, err = e.cli.EnsureBot(svc, &authv1.EnsureBotRequest{OrgId: "3a1d1c2e-0000-4000-8000-000000000009", Name: "pkg"})
	code(t, err, codes.NotFound, "ensure in a missing org")

	// Update, page and delete.
	up, err := e.cli.UpdateBot(admin, &authv1.UpdateBotRequest{BotId: pub.Bot.Id, Public: new(false)})
	if err != nil || up.Bot.Public || up.Bot.Title != "Help" {
		t.Fatalf("update: %+v %v", up, err)
	}
	page, err := e.cli.ListBots(admin, &authv1.ListBotsRequest{PageSize: 2})
	if err != nil || len(page.Bots) != 2 || page.NextPageToken == "" {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page2, err := e.cli.ListBots(admin, &authv1.ListBotsRequest{PageSize: 2, PageToken: page.NextPageToken})
	if err != nil || len(page2.Bots) != 1 || page2.NextPageToken != "" {
		t.Fatalf("page 2: %+v %v", page2, err)
	}
	if _, err := e.cli.DeleteBot(admin, &authv1.DeleteBotRequest{BotId: pub.Bot.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.GetBot(admin, &authv1.GetBotRequest{BotId: pub.Bot.Id})
	code(t, err, codes.NotFound, "deleted bot")
}

func TestInvitationsRolesMembers(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	inv, err := e.cli.CreateInvitation(admin, &authv1.CreateInvitationRequest{Email: "Editor@Example.com", Role: "bot-editor"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.AcceptInvitation(ctx, &authv1.AcceptInvitationRequest{Token: inv.Token, Password: "short"})
	code(t, err, codes.InvalidArgument, "weak password")
	acc, err := e.cli.AcceptInvitation(ctx, &authv1.AcceptInvitationRequest{Token: inv.Token, Password: "a long enough passphrase", DisplayName: "Ed"})
	if err != nil || acc.User.Email != "editor@example.com" {
		t.Fatalf("accept: %+v %v", acc, err)
	}
	_, err = e.cli.AcceptInvitation(ctx, &authv1.AcceptInvitationRequest{Token: inv.Token, Password: "a long enough passphrase"})
	code(t, err, codes.Unauthenticated, "invitation used twice")
	editor := as(acc.Tokens.AccessToken)
	if _, err := e.cli.CreateBot(editor, &authv1.CreateBotRequest{Name: "ed"}); err != nil {
		t.Fatalf("editor creates a bot: %v", err)
	}
	_, err = e.cli.CreateInvitation(editor, &authv1.CreateInvitationRequest{Email: "x@example.com"})
	code(t, err, codes.PermissionDenied, "editor inviting")

	members, err := e.cli.ListMembers(admin, &authv1.ListMembersRequest{})
	if err != nil || len(members.Members) != 2 {
		t.Fatalf("members: %+v %v", members, err)
	}
	// Custom role, then give it to the editor; the role change shows in new tokens.
	role, err := e.cli.CreateRole(admin, &authv1.CreateRoleRequest{Name: "kb-only", Permissions: []string{"kb:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.SetMemberRoles(admin, &authv1.SetMemberRolesRequest{UserId: acc.User.Id, Roles: []string{"kb-only"}}); err != nil {
		t.Fatal(err)
	}
	re, err := e.cli.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: acc.Tokens.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.cli.CreateBot(as(re.Tokens.AccessToken), &authv1.CreateBotRequest{Name: "ed2"})
	code(t, err, codes.PermissionDenied, "demoted editor")
	// The last owner cannot go.
	me, _ := e.cli.GetMe(admin, &authv1.GetMeRequest{})
	_, err = e.cli.SetMemberRoles(admin, &authv1.SetMemberRolesRequest{UserId: me.User.Id, Roles: []string{"admin"}})
	code(t, err, codes.FailedPrecondition, "removing the last owner")
	_, err = e.cli.UpdateRole(admin, &authv1.UpdateRoleRequest{RoleId: role.Role.Id, Permissions: []string{"kb:*"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.RemoveMember(admin, &authv1.RemoveMemberRequest{UserId: acc.User.Id}); err != nil {
		t.Fatal(err)
	}
	// Removed: their session is revoked and login finds no organisation.
	_, err = e.cli.Refresh(ctx, &authv1.RefreshRequest{RefreshToken: re.Tokens.RefreshToken})
	code(t, err, codes.Unauthenticated, "refresh after removal")
	_, err = e.cli.Login(ctx, &authv1.LoginRequest{Email: "editor@example.com", Password: "a long enough passphrase"})
	code(t, err, codes.FailedPrecondition, "login without org")
}

// TestTenantIsolation: two orgs with the same bot and role names; every id
// of the other org is NotFound; RLS hides the other org's rows even from a
// query without WHERE.
func TestTenantIsolation(t *testing.T) {
	e := start(t)
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	// The admin creates a second org (and becomes its owner); a second
	// user is invited into it.
	o2, err := e.cli.CreateOrg(admin, &authv1.CreateOrgRequest{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	org2 := as(o2.Tokens.AccessToken)
	type world struct {
		bot, member, role, key, inv, group string
	}
	mk := func(ctx context.Context, email string) world {
		b, err := e.cli.CreateBot(ctx, &authv1.CreateBotRequest{Name: "support", Title: email, Public: true})
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.cli.CreateRole(ctx, &authv1.CreateRoleRequest{Name: "custom", Permissions: []string{"bots:read"}})
		if err != nil {
			t.Fatal(err)
		}
		k, err := e.cli.CreateApiKey(ctx, &authv1.CreateApiKeyRequest{Name: "k", Permissions: []string{"bots:read"}})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := e.cli.CreateInvitation(ctx, &authv1.CreateInvitationRequest{Email: email})
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.cli.AcceptInvitation(context.Background(), &authv1.AcceptInvitationRequest{Token: inv.Token, Password: "member password 123"})
		if err != nil {
			t.Fatal(err)
		}
		inv2, err := e.cli.CreateInvitation(ctx, &authv1.CreateInvitationRequest{Email: "pending-" + email})
		if err != nil {
			t.Fatal(err)
		}
		g, err := e.cli.CreateGroup(ctx, &authv1.CreateGroupRequest{Name: "team"})
		if err != nil {
			t.Fatal(err)
		}
		return world{bot: b.Bot.Id, member: a.User.Id, role: r.Role.Id, key: k.ApiKey.Id, inv: inv2.Invitation.Id, group: g.Group.Id}
	}
	w1 := mk(admin, "one@example.com")
	w2 := mk(org2, "two@example.com")

	for _, c := range []struct {
		name string
		call func() error
	}{
		{"GetBot", func() error { _, err := e.cli.GetBot(admin, &authv1.GetBotRequest{BotId: w2.bot}); return err }},
		{"UpdateBot", func() error {
			_, err := e.cli.UpdateBot(admin, &authv1.UpdateBotRequest{BotId: w2.bot, Title: new("x")})
			return err
		}},
		{"DeleteBot", func() error { _, err := e.cli.DeleteBot(admin, &authv1.DeleteBotRequest{BotId: w2.bot}); return err }},
		{"GetUser", func() error { _, err := e.cli.GetUser(admin, &authv1.GetUserRequest{UserId: w2.member}); return err }},
		{"SetMemberRoles", func() error {
			_, err := e.cli.SetMemberRoles(admin, &authv1.SetMemberRolesRequest{UserId: w2.member, Roles: []string{"viewer"}})
			return err
		}},
		{"RemoveMember", func() error {
			_, err := e.cli.RemoveMember(admin, &authv1.RemoveMemberRequest{UserId: w2.member})
			return err
		}},
		{"UpdateRole", func() error {
			_, err := e.cli.UpdateRole(admin, &authv1.UpdateRoleRequest{RoleId: w2.role, Permissions: []string{"*"}})
			return err
		}},
		{"DeleteRole", func() error {
			_, err := e.cli.DeleteRole(admin, &authv1.DeleteRoleRequest{RoleId: w2.role})
			return err
		}},
		{"RevokeApiKey", func() error {
			_, err := e.cli.RevokeApiKey(admin, &authv1.RevokeApiKeyRequest{ApiKeyId: w2.key})
			return err
		}},
		{"RevokeInvitation", func() error {
			_, err := e.cli.RevokeInvitation(admin, &authv1.RevokeInvitationRequest{InvitationId: w2.inv})
			return err
		}},
		// Groups (more in TestGroupsTenantIsolation).
		{"GetGroup", func() error { _, err := e.cli.GetGroup(admin, &authv1.GetGroupRequest{GroupId: w2.group}); return err }},
		{"SetGroupRoles", func() error {
			_, err := e.cli.SetGroupRoles(admin, &authv1.SetGroupRolesRequest{GroupId: w2.group, Roles: []string{"owner"}})
			return err
		}},
		{"AddGroupMember", func() error {
			_, err := e.cli.AddGroupMember(admin, &authv1.AddGroupMemberRequest{GroupId: w1.group, UserId: w2.member})
			return err
		}},
		{"DeleteGroup", func() error {
			_, err := e.cli.DeleteGroup(admin, &authv1.DeleteGroupRequest{GroupId: w2.group})
			return err
		}},
	} {
		code(t, c.call(), codes.NotFound, c.name+" with the other org's id")
	}
	// By name, each org sees its own "support".
	b1, err := e.cli.GetBot(admin, &authv1.GetBotRequest{Name: "support"})
	if err != nil || b1.Bot.Id != w1.bot {
		t.Fatalf("org 1 support: %v %v", b1, err)
	}
	b2, err := e.cli.GetBot(org2, &authv1.GetBotRequest{Name: "support"})
	if err != nil || b2.Bot.Id != w2.bot {
		t.Fatalf("org 2 support: %v %v", b2, err)
	}
	// Lists hold only the caller's rows.
	l, _ := e.cli.ListBots(admin, &authv1.ListBotsRequest{})
	m, _ := e.cli.ListMembers(org2, &authv1.ListMembersRequest{})
	if len(l.Bots) != 1 || len(m.Members) != 2 {
		t.Fatalf("lists: %d bots, %d members", len(l.Bots), len(m.Members))
	}
	// Visitors: the org slug picks the org.
	v, err := e.cli.CreateVisitorSession(context.Background(), &authv1.CreateVisitorSessionRequest{Bot: "support", Org: "acme"})
	if err != nil || v.BotId != w2.bot {
		t.Fatalf("visitor acme: %v %v", v, err)
	}
	// Nothing changed in org 2 after all those attempts.
	b2, _ = e.cli.GetBot(org2, &authv1.GetBotRequest{BotId: w2.bot})
	if b2.Bot.Title != "two@example.com" {
		t.Fatalf("org 2's bot changed: %v", b2)
	}
}

// TestRLSWithoutWhere: a query that forgets its WHERE still returns only
// the org's rows, because pg.InOrg runs it as the tenant role under RLS.
func TestRLSWithoutWhere(t *testing.T) {
	pool, dbURL := newPool(t)
	if _, err := pg.Migrate(context.Background(), dbURL, botauth.Schema()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	orgs := []string{"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"}
	if _, err := pool.Exec(ctx, `INSERT INTO auth.orgs (id, slug, name) VALUES ($1, 'a', 'A'), ($2, 'b', 'B')`, orgs[0], orgs[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO auth.bots (id, org_id, name) VALUES (gen_random_uuid(), $1, 'same'), (gen_random_uuid(), $2, 'same'), (gen_random_uuid(), $2, 'other')`, orgs[0], orgs[1]); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 2} {
		var n int
		var names []string
		err := pg.InOrg(ctx, pool, orgs[i], func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM auth.bots`).Scan(&n); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT array_agg(DISTINCT org_id::text) FROM auth.bots`).Scan(&names)
		})
		if err != nil || n != want || len(names) != 1 || names[0] != orgs[i] {
			t.Fatalf("org %d: %d rows of orgs %v: %v", i, n, names, err)
		}
		// Writing into the other org is refused by the policy's WITH CHECK.
		err = pg.InOrg(ctx, pool, orgs[i], func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO auth.bots (id, org_id, name) VALUES (gen_random_uuid(), $1, 'sneaky')`, orgs[1-i])
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "row-level security") {
			t.Fatalf("cross-org insert: %v", err)
		}
		// Platform tables are invisible to the tenant role.
		err = pg.InOrg(ctx, pool, orgs[i], func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM auth.signing_keys`).Scan(&n)
		})
		if err != nil || n != 0 {
			t.Fatalf("signing keys visible to a tenant: %d %v", n, err)
		}
	}
}

func TestEventsInOutbox(t *testing.T) {
	e := start(t)
	admin := as(e.login(adminEmail, adminPass, "").Tokens.AccessToken)
	_, _ = e.cli.Login(context.Background(), &authv1.LoginRequest{Email: adminEmail, Password: "wrong password!!"})
	b, err := e.cli.CreateBot(admin, &authv1.CreateBotRequest{Name: "ev"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.DeleteBot(admin, &authv1.DeleteBotRequest{BotId: b.Bot.Id}); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	// The relay publishes and marks rows; the rows stay, so read them all.
	if err := e.dbQuery(`SELECT array_agg(subject ORDER BY id) FROM auth.outbox`, &subjects); err != nil {
		t.Fatal(err)
	}
	want := "bot.auth.user.created,bot.auth.login.succeeded,bot.auth.login.failed,bot.auth.bot.created,bot.auth.bot.deleted"
	if got := strings.Join(subjects, ","); got != want {
		t.Fatalf("outbox subjects:\n%s\nwant\n%s", got, want)
	}
}

func (e *env) dbQuery(q string, dst any) error {
	return e.db.QueryRow(context.Background(), q).Scan(dst)
}

func newPool(t *testing.T) (*pgxpool.Pool, string) { return testutil.NewPool(t) }
