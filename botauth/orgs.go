package botauth

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func checkName(what, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) > max || strings.ContainsAny(v, "\x00\r\n") {
		return "", invalid("%s must have at most %d characters on one line", what, max)
	}
	return v, nil
}

func getOrg(ctx context.Context, tx pgx.Tx) (*authv1.Org, error) {
	o := &authv1.Org{}
	var created time.Time
	if err := tx.QueryRow(ctx, `SELECT id, slug, name, created_at FROM auth.orgs`).Scan(&o.Id, &o.Slug, &o.Name, &created); err != nil {
		return nil, err
	}
	o.CreatedAt = ts(created)
	return o, nil
}

func (s *server) CreateOrg(ctx context.Context, req *authv1.CreateOrgRequest) (*authv1.CreateOrgResponse, error) {
	id, _ := authz.FromContext(ctx)
	if !slugRE.MatchString(req.GetSlug()) {
		return nil, invalid("slug must match [a-z0-9][a-z0-9-]{0,62}")
	}
	name, err := checkName("name", req.GetName(), 200)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = req.GetSlug()
	}
	org := uuid.NewString()
	resp := &authv1.CreateOrgResponse{}
	err = pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		if err := createOrg(ctx, tx, org, req.GetSlug(), name); err != nil {
			return err
		}
		if err := addMember(ctx, tx, org, id.Subject, "owner"); err != nil {
			return err
		}
		if resp.Org, err = getOrg(ctx, tx); err != nil {
			return err
		}
		if resp.Tokens, err = s.startSession(ctx, tx, org, id.Subject, "create-org"); err != nil {
			return err
		}
		return s.event(ctx, tx, "bot.auth.role.changed", &authv1.RoleChanged{OrgId: org, UserId: id.Subject, Roles: []string{"owner"},
			Actor: actor(id), At: timestamppb.New(s.now())})
	})
	if status.Code(s.dbErr(err)) == codes.AlreadyExists {
		return nil, status.Error(codes.AlreadyExists, "an organisation with this slug exists")
	}
	return resp, s.dbErr(err)
}

func (s *server) GetOrg(ctx context.Context, _ *authv1.GetOrgRequest) (*authv1.GetOrgResponse, error) {
	resp := &authv1.GetOrgResponse{}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) (err error) {
		resp.Org, err = getOrg(ctx, tx)
		return err
	})
	return resp, err
}

func (s *server) UpdateOrg(ctx context.Context, req *authv1.UpdateOrgRequest) (*authv1.UpdateOrgResponse, error) {
	name, err := checkName("name", req.GetName(), 200)
	if err != nil || name == "" {
		return nil, invalid("name must be 1 to 200 characters on one line")
	}
	resp := &authv1.UpdateOrgResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) (err error) {
		if _, err := tx.Exec(ctx, `UPDATE auth.orgs SET name = $1, updated_at = now()`, name); err != nil {
			return err
		}
		resp.Org, err = getOrg(ctx, tx)
		return err
	})
	return resp, err
}

func (s *server) ListMembers(ctx context.Context, _ *authv1.ListMembersRequest) (*authv1.ListMembersResponse, error) {
	resp := &authv1.ListMembersResponse{}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		rows, err := tx.Query(ctx, `SELECT u.id, u.email, u.display_name, u.status, u.created_at, m.created_at,
				coalesce(array_agg(r.name ORDER BY r.name) FILTER (WHERE r.name IS NOT NULL), '{}')
			FROM auth.memberships m JOIN auth.users u ON u.id = m.user_id
			LEFT JOIN auth.member_roles mr ON mr.user_id = m.user_id
			LEFT JOIN auth.roles r ON r.id = mr.role_id
			GROUP BY u.id, m.created_at ORDER BY u.email LIMIT 10000`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u := &authv1.User{}
			var created, joined time.Time
			var roles []string
			if err := rows.Scan(&u.Id, &u.Email, &u.DisplayName, &u.Status, &created, &joined, &roles); err != nil {
				return err
			}
			u.CreatedAt = ts(created)
			resp.Members = append(resp.Members, &authv1.Member{User: u, Roles: roles, JoinedAt: ts(joined)})
		}
		return rows.Err()
	})
	return resp, err
}

// rolePerms returns the permissions of the named roles of the tx's org.
func rolePerms(ctx context.Context, tx pgx.Tx, names []string) ([]string, error) {
	var perms []string
	for _, n := range names {
		var ps []string
		err := tx.QueryRow(ctx, `SELECT permissions FROM auth.roles WHERE name = $1`, n).Scan(&ps)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, invalid("no role %q", n)
		}
		if err != nil {
			return nil, err
		}
		perms = append(perms, ps...)
	}
	return perms, nil
}

// keepsOwner refuses a change that leaves the org without an owner.
func keepsOwner(ctx context.Context, tx pgx.Tx) error {
	var owners int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM auth.member_roles mr JOIN auth.roles r ON r.id = mr.role_id WHERE r.name = 'owner'`).Scan(&owners); err != nil {
		return err
	}
	if owners == 0 {
		return status.Error(codes.FailedPrecondition, "the organisation must keep at least one owner")
	}
	return nil
}

func (s *server) SetMemberRoles(ctx context.Context, req *authv1.SetMemberRolesRequest) (*authv1.SetMemberRolesResponse, error) {
	uid, err := parseID(req.GetUserId(), "member")
	if err != nil {
		return nil, err
	}
	roles := slices.Compact(slices.Sorted(slices.Values(req.GetRoles())))
	if len(roles) > 20 {
		return nil, invalid("at most 20 roles")
	}
	resp := &authv1.SetMemberRolesResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		var member bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.memberships WHERE user_id = $1)`, uid).Scan(&member); err != nil {
			return err
		}
		if !member {
			return notFound("member")
		}
		old, oldPerms, err := directRolesOf(ctx, tx, uid.String())
		if err != nil {
			return err
		}
		newPerms, err := rolePerms(ctx, tx, roles)
		if err != nil {
			return err
		}
		// Granting and taking away both need the permissions involved.
		if err := grants(id, append(newPerms, oldPerms...)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.member_roles WHERE user_id = $1`, uid); err != nil {
			return err
		}
		if err := addMember(ctx, tx, id.OrgID, uid.String(), roles...); err != nil {
			return err
		}
		if err := keepsOwner(ctx, tx); err != nil {
			return err
		}
		u, err := getUser(ctx, tx, uid.String())
		if err != nil {
			return err
		}
		resp.Member = &authv1.Member{User: u, Roles: roles}
		if slices.Equal(old, roles) {
			return nil
		}
		return s.event(ctx, tx, "bot.auth.role.changed", &authv1.RoleChanged{OrgId: id.OrgID, UserId: uid.String(), Roles: roles,
			Actor: actor(id), At: timestamppb.New(s.now())})
	})
	return resp, err
}

func (s *server) RemoveMember(ctx context.Context, req *authv1.RemoveMemberRequest) (*authv1.RemoveMemberResponse, error) {
	uid, err := parseID(req.GetUserId(), "member")
	if err != nil {
		return nil, err
	}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		// Effective permissions: removing a member takes their groups' too.
		_, perms, err := rolesOf(ctx, tx, uid.String())
		if err != nil {
			return err
		}
		var email string
		if err := tx.QueryRow(ctx, `SELECT email FROM auth.users WHERE id = $1`, uid).Scan(&email); errors.Is(err, pgx.ErrNoRows) {
			return notFound("member")
		} else if err != nil {
			return err
		}
		if err := grants(id, perms); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.memberships WHERE user_id = $1`, uid); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE auth.sessions SET revoked_at = now(), revoked_reason = 'removed from org', updated_at = now()
			WHERE user_id = $1 AND revoked_at IS NULL`, uid); err != nil {
			return err
		}
		if err := keepsOwner(ctx, tx); err != nil {
			return err
		}
		return s.event(ctx, tx, "bot.auth.user.deleted", &authv1.UserEvent{UserId: uid.String(), OrgId: id.OrgID, Email: email,
			Actor: actor(id), At: timestamppb.New(s.now())})
	})
	return &authv1.RemoveMemberResponse{}, err
}

// Invitations

const invitationTTL = 7 * 24 * time.Hour

func (s *server) CreateInvitation(ctx context.Context, req *authv1.CreateInvitationRequest) (*authv1.CreateInvitationResponse, error) {
	email, err := normEmail(req.GetEmail())
	if err != nil {
		return nil, invalid("email: %v", err)
	}
	role := req.GetRole()
	if role == "" {
		role = "viewer"
	}
	resp := &authv1.CreateInvitationResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		var roleID string
		var perms []string
		err := tx.QueryRow(ctx, `SELECT id, permissions FROM auth.roles WHERE name = $1`, role).Scan(&roleID, &perms)
		if errors.Is(err, pgx.ErrNoRows) {
			return invalid("no role %q", role)
		}
		if err != nil {
			return err
		}
		if err := grants(id, perms); err != nil {
			return err
		}
		token, hash, err := newSecret(prefixInvitation, id.OrgID)
		if err != nil {
			return err
		}
		inv := &authv1.Invitation{Id: uuid.NewString(), Email: email, Role: role}
		expires := s.now().Add(invitationTTL)
		var created time.Time
		if err := tx.QueryRow(ctx, `INSERT INTO auth.invitations (id, org_id, email, role_id, token_hash, created_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`, inv.Id, id.OrgID, email, roleID, hash, actor(id), expires).Scan(&created); err != nil {
			return err
		}
		inv.ExpiresAt, inv.CreatedAt = ts(expires), ts(created)
		resp.Invitation, resp.Token = inv, token
		return nil
	})
	return resp, err
}

func (s *server) ListInvitations(ctx context.Context, _ *authv1.ListInvitationsRequest) (*authv1.ListInvitationsResponse, error) {
	resp := &authv1.ListInvitationsResponse{}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		rows, err := tx.Query(ctx, `SELECT i.id, i.email, r.name, i.expires_at, i.accepted_at, i.created_at
			FROM auth.invitations i JOIN auth.roles r ON r.id = i.role_id WHERE i.revoked_at IS NULL ORDER BY i.created_at DESC LIMIT 1000`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			inv := &authv1.Invitation{}
			var exp, created time.Time
			var accepted *time.Time
			if err := rows.Scan(&inv.Id, &inv.Email, &inv.Role, &exp, &accepted, &created); err != nil {
				return err
			}
			inv.ExpiresAt, inv.AcceptedAt, inv.CreatedAt = ts(exp), tsp(accepted), ts(created)
			resp.Invitations = append(resp.Invitations, inv)
		}
		return rows.Err()
	})
	return resp, err
}

func (s *server) RevokeInvitation(ctx context.Context, req *authv1.RevokeInvitationRequest) (*authv1.RevokeInvitationResponse, error) {
	iid, err := parseID(req.GetInvitationId(), "invitation")
	if err != nil {
		return nil, err
	}
	err = s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		tag, err := tx.Exec(ctx, `UPDATE auth.invitations SET revoked_at = now(), updated_at = now() WHERE id = $1 AND revoked_at IS NULL AND accepted_at IS NULL`, iid)
		if err == nil && tag.RowsAffected() == 0 {
			return notFound("invitation")
		}
		return err
	})
	return &authv1.RevokeInvitationResponse{}, err
}

// AcceptInvitation: the invitee proves the account (new: sets a password;
// existing: gives theirs), becomes a member with the invited role and gets
// a session in the org. The user lookup by email is a platform statement;
// the rest runs under RLS in the invitation's org (asTenant), in one
// transaction.
func (s *server) AcceptInvitation(ctx context.Context, req *authv1.AcceptInvitationRequest) (*authv1.AcceptInvitationResponse, error) {
	bad := status.Error(codes.Unauthenticated, "invalid or expired invitation, or wrong password")
	org, hash, err := parseSecret(prefixInvitation, req.GetToken())
	if err != nil || len(req.GetPassword()) > maxPasswordBytes {
		return nil, bad
	}
	name, err := checkName("display_name", req.GetDisplayName(), 200)
	if err != nil {
		return nil, err
	}
	// Read the invitation first (under RLS) to learn the email.
	var invID, email, roleName string
	err = pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT i.id, i.email, r.name FROM auth.invitations i JOIN auth.roles r ON r.id = i.role_id
			WHERE i.token_hash = $1 AND i.revoked_at IS NULL AND i.accepted_at IS NULL AND i.expires_at > $2`, hash, s.now()).Scan(&invID, &email, &roleName)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, bad
	}
	if err != nil {
		return nil, s.dbErr(err)
	}
	var userID string
	var pw *string
	err = s.db.QueryRow(ctx, `SELECT id, password_hash FROM auth.users WHERE lower(email) = $1`, email).Scan(&userID, &pw)
	isNew := errors.Is(err, pgx.ErrNoRows)
	if err != nil && !isNew {
		return nil, s.dbErr(err)
	}
	var newHash string
	if isNew {
		if err := checkPassword(req.GetPassword(), email, s.set.PasswordMin); err != nil {
			return nil, invalid("%v", err)
		}
		if newHash, err = s.argon.Hash(req.GetPassword()); err != nil {
			return nil, s.dbErr(err)
		}
		userID = uuid.NewString()
	} else {
		h := s.dummy
		if pw != nil {
			h = *pw
		}
		if ok, _, err := s.argon.Verify(req.GetPassword(), h); err != nil || !ok || pw == nil {
			return nil, bad
		}
	}
	resp := &authv1.AcceptInvitationResponse{}
	err = pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if isNew {
			if _, err := tx.Exec(ctx, `INSERT INTO auth.users (id, email, display_name, password_hash) VALUES ($1, $2, $3, $4)`, userID, email, name, newHash); err != nil {
				return err
			}
		}
		if err := asTenant(ctx, tx, org); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE auth.invitations SET accepted_at = now(), updated_at = now() WHERE id = $1 AND accepted_at IS NULL`, invID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return bad // accepted concurrently
		}
		if err := addMember(ctx, tx, org, userID, roleName); err != nil {
			return err
		}
		if resp.User, err = getUser(ctx, tx, userID); err != nil {
			return err
		}
		if resp.Tokens, err = s.startSession(ctx, tx, org, userID, "invitation"); err != nil {
			return err
		}
		subject := "bot.auth.user.updated"
		if isNew {
			subject = "bot.auth.user.created"
		}
		if err := s.event(ctx, tx, subject, &authv1.UserEvent{UserId: userID, OrgId: org, Email: email, Actor: "invitation:" + invID, At: timestamppb.New(s.now())}); err != nil {
			return err
		}
		return s.event(ctx, tx, "bot.auth.role.changed", &authv1.RoleChanged{OrgId: org, UserId: userID, Roles: []string{roleName}, Actor: "invitation:" + invID, At: timestamppb.New(s.now())})
	})
	return resp, s.dbErr(err)
}

// Roles

func scanRoles(ctx context.Context, tx pgx.Tx, where string, args ...any) ([]*authv1.Role, error) {
	rows, err := tx.Query(ctx, `SELECT id, name, permissions, builtin FROM auth.roles `+where+` ORDER BY builtin DESC, name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*authv1.Role
	for rows.Next() {
		r := &authv1.Role{}
		if err := rows.Scan(&r.Id, &r.Name, &r.Permissions, &r.Builtin); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *server) ListRoles(ctx context.Context, _ *authv1.ListRolesRequest) (*authv1.ListRolesResponse, error) {
	resp := &authv1.ListRolesResponse{}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) (err error) {
		resp.Roles, err = scanRoles(ctx, tx, "")
		return err
	})
	return resp, err
}

func (s *server) CreateRole(ctx context.Context, req *authv1.CreateRoleRequest) (*authv1.CreateRoleResponse, error) {
	if !slugRE.MatchString(req.GetName()) {
		return nil, invalid("role name must match [a-z0-9][a-z0-9-]{0,62}")
	}
	perms, err := checkPermissions(req.GetPermissions())
	if err != nil {
		return nil, err
	}
	resp := &authv1.CreateRoleResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		if err := grants(id, perms); err != nil {
			return err
		}
		rid := uuid.NewString()
		if _, err := tx.Exec(ctx, `INSERT INTO auth.roles (id, org_id, name, permissions) VALUES ($1, $2, $3, $4)`, rid, id.OrgID, req.GetName(), perms); err != nil {
			return err
		}
		resp.Role = &authv1.Role{Id: rid, Name: req.GetName(), Permissions: perms}
		return s.event(ctx, tx, "bot.auth.role.changed", &authv1.RoleChanged{OrgId: id.OrgID, RoleId: rid, Permissions: perms, Actor: actor(id), At: timestamppb.New(s.now())})
	})
	return resp, err
}

func (s *server) UpdateRole(ctx context.Context, req *authv1.UpdateRoleRequest) (*authv1.UpdateRoleResponse, error) {
	rid, err := parseID(req.GetRoleId(), "role")
	if err != nil {
		return nil, err
	}
	perms, err := checkPermissions(req.GetPermissions())
	if err != nil {
		return nil, err
	}
	resp := &authv1.UpdateRoleResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		roles, err := scanRoles(ctx, tx, "WHERE id = $1", rid)
		if err != nil {
			return err
		}
		if len(roles) == 0 {
			return notFound("role")
		}
		if roles[0].Builtin {
			return status.Error(codes.FailedPrecondition, "built-in roles cannot be changed")
		}
		if err := grants(id, append(perms, roles[0].Permissions...)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE auth.roles SET permissions = $2, updated_at = now() WHERE id = $1`, rid, perms); err != nil {
			return err
		}
		roles[0].Permissions = perms
		resp.Role = roles[0]
		return s.event(ctx, tx, "bot.auth.role.changed", &authv1.RoleChanged{OrgId: id.OrgID, RoleId: rid.String(), Permissions: perms, Actor: actor(id), At: timestamppb.New(s.now())})
	})
	return resp, err
}

func (s *server) DeleteRole(ctx context.Context, req *authv1.DeleteRoleRequest) (*authv1.DeleteRoleResponse, error) {
	rid, err := parseID(req.GetRoleId(), "role")
	if err != nil {
		return nil, err
	}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		roles, err := scanRoles(ctx, tx, "WHERE id = $1", rid)
		if err != nil {
			return err
		}
		if len(roles) == 0 {
			return notFound("role")
		}
		if roles[0].Builtin {
			return status.Error(codes.FailedPrecondition, "built-in roles cannot be deleted")
		}
		if err := grants(id, roles[0].Permissions); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth.roles WHERE id = $1`, rid); err != nil {
			return err
		}
		return s.event(ctx, tx, "bot.auth.role.changed", &authv1.RoleChanged{OrgId: id.OrgID, RoleId: rid.String(), Actor: actor(id), At: timestamppb.New(s.now())})
	})
	return &authv1.DeleteRoleResponse{}, err
}

// API keys

func (s *server) CreateApiKey(ctx context.Context, req *authv1.CreateApiKeyRequest) (*authv1.CreateApiKeyResponse, error) {
	name, err := checkName("name", req.GetName(), 100)
	if err != nil || name == "" {
		return nil, invalid("name must be 1 to 100 characters")
	}
	perms, err := checkPermissions(req.GetPermissions())
	if err != nil {
		return nil, err
	}
	if len(perms) == 0 {
		return nil, invalid("an API key needs at least one permission")
	}
	ttl := time.Duration(req.GetExpiresIn()) * time.Second
	if req.GetExpiresIn() < 0 || ttl > s.set.APIKeyTTL {
		return nil, invalid("expires_in must be between 0 (the default, %s) and %d seconds", s.set.APIKeyTTL, int64(s.set.APIKeyTTL/time.Second))
	}
	if ttl == 0 {
		ttl = s.set.APIKeyTTL
	}
	resp := &authv1.CreateApiKeyResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, id *authz.Identity) error {
		if err := grants(id, perms); err != nil {
			return err
		}
		secret, hash, err := newSecret(prefixAPIKey, id.OrgID)
		if err != nil {
			return err
		}
		k := &authv1.ApiKey{Id: uuid.NewString(), Name: name, Prefix: secret[:12], Permissions: perms}
		exp := s.now().Add(ttl)
		var created time.Time
		if err := tx.QueryRow(ctx, `INSERT INTO auth.api_keys (id, org_id, name, prefix, secret_hash, permissions, created_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at`, k.Id, id.OrgID, name, k.Prefix, hash, perms, actor(id), exp).Scan(&created); err != nil {
			return err
		}
		k.ExpiresAt, k.CreatedAt = ts(exp), ts(created)
		resp.ApiKey, resp.Secret = k, secret
		return nil
	})
	return resp, err
}

func (s *server) ListApiKeys(ctx context.Context, _ *authv1.ListApiKeysRequest) (*authv1.ListApiKeysResponse, error) {
	resp := &authv1.ListApiKeysResponse{}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		rows, err := tx.Query(ctx, `SELECT id, name, prefix, permissions, expires_at, revoked_at, created_at FROM auth.api_keys ORDER BY created_at DESC LIMIT 1000`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k := &authv1.ApiKey{}
			var exp, created time.Time
			var revoked *time.Time
			if err := rows.Scan(&k.Id, &k.Name, &k.Prefix, &k.Permissions, &exp, &revoked, &created); err != nil {
				return err
			}
			k.ExpiresAt, k.RevokedAt, k.CreatedAt = ts(exp), tsp(revoked), ts(created)
			resp.ApiKeys = append(resp.ApiKeys, k)
		}
		return rows.Err()
	})
	return resp, err
}

func (s *server) RevokeApiKey(ctx context.Context, req *authv1.RevokeApiKeyRequest) (*authv1.RevokeApiKeyResponse, error) {
	kid, err := parseID(req.GetApiKeyId(), "API key")
	if err != nil {
		return nil, err
	}
	err = s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		tag, err := tx.Exec(ctx, `UPDATE auth.api_keys SET revoked_at = coalesce(revoked_at, now()), updated_at = now() WHERE id = $1`, kid)
		if err == nil && tag.RowsAffected() == 0 {
			return notFound("API key")
		}
		return err
	})
	return &authv1.RevokeApiKeyResponse{}, err
}
