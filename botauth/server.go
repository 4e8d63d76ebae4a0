package botauth

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/events"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

type server struct {
	authv1.UnimplementedAuthServiceServer
	db       *pgxpool.Pool
	log      *slog.Logger
	set      *Settings
	issuer   string
	argon    Argon2
	keys     *keyStore
	verifier *authz.Verifier
	now      func() time.Time
	dummy    string // hash verified for unknown emails, so they cost the same time
	oidc     *oidcClients
}

func newServer(env *app.Env, s *Settings) *server {
	srv := &server{
		db: env.DB, log: env.Log, set: s, issuer: env.AuthSettings.Issuer,
		argon: Argon2{MemoryKiB: s.ArgonMemoryKiB, Time: s.ArgonTime, Threads: s.ArgonThreads},
		now:   time.Now,
		oidc:  newOIDCClients(),
	}
	if env.Auth != nil { // nil in command-line tools (bootstrap)
		srv.verifier = env.Auth.Verifier()
	}
	srv.keys = &keyStore{pool: env.DB, rotation: s.KeyRotation, delay: s.KeyDelay, accessTTL: s.AccessTTL, now: func() time.Time { return srv.now() }}
	srv.dummy, _ = srv.argon.Hash("no user has this password; it only costs time")
	return srv
}

const schema = "auth"

// inOrg runs fn under RLS in the caller's organisation.
func (s *server) inOrg(ctx context.Context, fn func(tx pgx.Tx, id *authz.Identity) error) error {
	org, err := authz.OrgOf(ctx)
	if err != nil {
		return err
	}
	id, _ := authz.FromContext(ctx)
	return s.dbErr(pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error { return fn(tx, id) }))
}

// asTenant switches a transaction that began as the schema owner (for one
// of the explicit platform statements) to the tenant role for orgID, as
// pg.InOrg does: every statement after it is under RLS.
func asTenant(ctx context.Context, tx pgx.Tx, orgID string) error {
	if _, err := tx.Exec(ctx, `SET LOCAL ROLE `+pg.Ident(pg.TenantRole)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, pg.OrgSetting, orgID)
	return err
}

// dbErr turns database errors into gRPC statuses; unexpected ones are
// logged and become Internal without details.
func (s *server) dbErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return status.Error(codes.NotFound, "not found")
	case errors.Is(err, pg.ErrNoOrg):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.As(err, &pe) && pe.Code == "23505":
		return status.Error(codes.AlreadyExists, "already exists")
	case errors.As(err, &pe) && (pe.Code == "23514" || pe.Code == "22P02"):
		return status.Error(codes.InvalidArgument, "invalid value")
	}
	s.log.Error("botauth database error", "err", err)
	return status.Error(codes.Internal, "internal error")
}

func (s *server) event(ctx context.Context, tx pgx.Tx, subject string, msg proto.Message) error {
	_, err := events.Write(ctx, tx, schema, events.Event{Subject: subject, Payload: msg})
	return err
}

func actor(id *authz.Identity) string {
	if id == nil {
		return ""
	}
	return string(id.Kind) + ":" + id.Subject
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func tsp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func invalid(format string, a ...any) error {
	return status.Errorf(codes.InvalidArgument, format, a...)
}

func notFound(what string) error { return status.Error(codes.NotFound, what+" not found") }

func parseID(s, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		// A malformed id cannot exist in any org: same answer as another org's.
		return uuid.Nil, notFound(what)
	}
	return id, nil
}

// grants reports a permission error unless the caller holds every
// permission in perms, so nobody grants more than they have.
func grants(id *authz.Identity, perms []string) error {
	for _, p := range perms {
		if !id.Can(p) {
			return status.Errorf(codes.PermissionDenied, "you cannot grant %s: you do not hold it", p)
		}
	}
	return nil
}

// rolesOf returns a member's effective roles (their own plus those of
// their groups) and the union of their permissions: what tokens carry.
func rolesOf(ctx context.Context, tx pgx.Tx, userID string) (roles, perms []string, err error) {
	return scanRolePerms(ctx, tx, `SELECT r.name, r.permissions FROM auth.roles r WHERE r.id IN (
			SELECT role_id FROM auth.member_roles WHERE user_id = $1
			UNION SELECT gr.role_id FROM auth.group_roles gr JOIN auth.group_members gm ON gm.group_id = gr.group_id
				WHERE gm.user_id = $1)
		ORDER BY r.name`, userID)
}

// directRolesOf returns only the member's own roles (not their groups').
func directRolesOf(ctx context.Context, tx pgx.Tx, userID string) (roles, perms []string, err error) {
	return scanRolePerms(ctx, tx, `SELECT r.name, r.permissions FROM auth.member_roles mr JOIN auth.roles r ON r.id = mr.role_id
		WHERE mr.user_id = $1 ORDER BY r.name`, userID)
}

func scanRolePerms(ctx context.Context, tx pgx.Tx, q string, args ...any) (roles, perms []string, err error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	set := map[string]bool{}
	for rows.Next() {
		var name string
		var ps []string
		if err := rows.Scan(&name, &ps); err != nil {
			return nil, nil, err
		}
		roles = append(roles, name)
		for _, p := range ps {
			set[p] = true
		}
	}
	for p := range set {
		perms = append(perms, p)
	}
	sort.Strings(perms)
	return roles, perms, rows.Err()
}

// sign issues an access token for id.
func (s *server) sign(ctx context.Context, id *authz.Identity, ttl time.Duration) (string, error) {
	k, err := s.keys.signer(ctx)
	if err != nil {
		return "", err
	}
	return k.Sign(authz.NewClaims(s.issuer, id, s.now(), ttl))
}

// startSession opens a login session for a member (tx is in the org) and
// returns its tokens.
func (s *server) startSession(ctx context.Context, tx pgx.Tx, orgID, userID, method string) (*authv1.Tokens, error) {
	sid := uuid.New()
	if _, err := tx.Exec(ctx, `INSERT INTO auth.sessions (id, org_id, user_id, method) VALUES ($1, $2, $3, $4)`, sid, orgID, userID, method); err != nil {
		return nil, err
	}
	return s.issueTokens(ctx, tx, orgID, userID, sid.String())
}

// issueTokens adds a refresh token to a session and signs an access token
// with the member's current roles.
func (s *server) issueTokens(ctx context.Context, tx pgx.Tx, orgID, userID, sid string) (*authv1.Tokens, error) {
	refresh, hash, err := newSecret(prefixRefresh, orgID)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO auth.refresh_tokens (id, org_id, session_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		uuid.New(), orgID, sid, hash, s.now().Add(s.set.RefreshTTL)); err != nil {
		return nil, err
	}
	roles, perms, err := rolesOf(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	access, err := s.sign(ctx, &authz.Identity{Kind: authz.KindUser, Subject: userID, OrgID: orgID, SessionID: sid, Roles: roles, Permissions: perms}, s.set.AccessTTL)
	if err != nil {
		return nil, err
	}
	return &authv1.Tokens{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(s.set.AccessTTL / time.Second), RefreshToken: refresh, OrgId: orgID}, nil
}

func (s *server) GetJwks(ctx context.Context, _ *authv1.GetJwksRequest) (*authv1.GetJwksResponse, error) {
	set, err := s.keys.jwks(ctx)
	if err != nil {
		return nil, s.dbErr(err)
	}
	return &authv1.GetJwksResponse{JwksJson: set.Marshal()}, nil
}

func (s *server) Refresh(ctx context.Context, req *authv1.RefreshRequest) (*authv1.RefreshResponse, error) {
	bad := status.Error(codes.Unauthenticated, "invalid or expired refresh token")
	org, hash, err := parseSecret(prefixRefresh, req.GetRefreshToken())
	if err != nil {
		return nil, bad
	}
	var tokens *authv1.Tokens
	var reused, ended bool
	err = pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		var rtID, sid, userID string
		var used *time.Time
		var expires time.Time
		var revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT rt.id, rt.session_id, rt.used_at, rt.expires_at, s.revoked_at, s.user_id
			FROM auth.refresh_tokens rt JOIN auth.sessions s ON s.id = rt.session_id
			WHERE rt.token_hash = $1 FOR UPDATE OF rt, s`, hash).Scan(&rtID, &sid, &used, &expires, &revoked, &userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return bad
		}
		if err != nil {
			return err
		}
		switch {
		case revoked != nil:
			return bad
		case used != nil:
			// Someone replayed a rotated token: the thief or the owner, we
			// cannot tell which, so the whole session ends.
			reused = true
			_, err := tx.Exec(ctx, `UPDATE auth.sessions SET revoked_at = now(), revoked_reason = 'refresh token reuse', updated_at = now() WHERE id = $1`, sid)
			return err
		case !s.now().Before(expires):
			return bad
		}
		var active bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.users WHERE id = $1 AND status = 'active')`, userID).Scan(&active); err != nil {
			return err
		}
		if !active { // disabled, or no longer a member of the org
			ended = true
			_, err := tx.Exec(ctx, `UPDATE auth.sessions SET revoked_at = now(), revoked_reason = 'user gone', updated_at = now() WHERE id = $1`, sid)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE auth.refresh_tokens SET used_at = now(), updated_at = now() WHERE id = $1`, rtID); err != nil {
			return err
		}
		tokens, err = s.issueTokens(ctx, tx, org, userID, sid)
		return err
	})
	if ended {
		return nil, bad
	}
	if err != nil {
		return nil, s.dbErr(err)
	}
	if reused {
		s.log.Warn("refresh token reused: session revoked", "org", org)
		return nil, status.Error(codes.Unauthenticated, "refresh token was already used: the session is revoked, log in again")
	}
	return &authv1.RefreshResponse{Tokens: tokens}, nil
}

func (s *server) Logout(ctx context.Context, req *authv1.LogoutRequest) (*authv1.LogoutResponse, error) {
	org, hash, err := parseSecret(prefixRefresh, req.GetRefreshToken())
	if err != nil {
		return nil, invalid("refresh_token is malformed")
	}
	err = pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE auth.sessions SET revoked_at = now(), revoked_reason = 'logout', updated_at = now()
			WHERE revoked_at IS NULL AND id = (SELECT session_id FROM auth.refresh_tokens WHERE token_hash = $1)`, hash)
		return err
	})
	if err != nil {
		return nil, s.dbErr(err)
	}
	return &authv1.LogoutResponse{}, nil
}

func (s *server) GetMe(ctx context.Context, _ *authv1.GetMeRequest) (*authv1.GetMeResponse, error) {
	id, _ := authz.FromContext(ctx)
	resp := &authv1.GetMeResponse{Identity: identityPB(id)}
	if id.OrgID == "" {
		return resp, nil
	}
	err := s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		org, err := getOrg(ctx, tx)
		if err != nil {
			return err
		}
		resp.Org = org
		if id.Kind != authz.KindUser {
			return nil
		}
		if resp.User, err = getUser(ctx, tx, id.Subject); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if id.Kind == authz.KindUser {
		// Explicit cross-org read: the memberships of the caller's own user.
		if resp.Memberships, err = s.membershipsOf(ctx, id.Subject); err != nil {
			return nil, s.dbErr(err)
		}
	}
	return resp, nil
}

func (s *server) membershipsOf(ctx context.Context, userID string) ([]*authv1.Membership, error) {
	// Effective roles per org: the member's own and their groups'.
	rows, err := s.db.Query(ctx, `WITH eff AS (
			SELECT org_id, role_id FROM auth.member_roles WHERE user_id = $1
			UNION SELECT gr.org_id, gr.role_id FROM auth.group_roles gr
				JOIN auth.group_members gm ON gm.org_id = gr.org_id AND gm.group_id = gr.group_id WHERE gm.user_id = $1)
		SELECT o.id, o.slug, o.name, o.created_at,
			coalesce(array_agg(r.name ORDER BY r.name) FILTER (WHERE r.name IS NOT NULL), '{}')
		FROM auth.memberships m JOIN auth.orgs o ON o.id = m.org_id
		LEFT JOIN eff ON eff.org_id = m.org_id
		LEFT JOIN auth.roles r ON r.id = eff.role_id
		WHERE m.user_id = $1 GROUP BY o.id ORDER BY min(m.created_at), o.slug`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*authv1.Membership
	for rows.Next() {
		o := &authv1.Org{}
		var created time.Time
		var roles []string
		if err := rows.Scan(&o.Id, &o.Slug, &o.Name, &created, &roles); err != nil {
			return nil, err
		}
		o.CreatedAt = ts(created)
		out = append(out, &authv1.Membership{Org: o, Roles: roles})
	}
	return out, rows.Err()
}

func identityPB(id *authz.Identity) *authv1.Identity {
	return &authv1.Identity{Kind: string(id.Kind), Subject: id.Subject, OrgId: id.OrgID, BotId: id.BotID,
		SessionId: id.SessionID, Roles: id.Roles, Permissions: id.Permissions}
}

func getUser(ctx context.Context, tx pgx.Tx, userID string) (*authv1.User, error) {
	u := &authv1.User{}
	var created time.Time
	err := tx.QueryRow(ctx, `SELECT id, email, display_name, status, created_at FROM auth.users WHERE id = $1`, userID).
		Scan(&u.Id, &u.Email, &u.DisplayName, &u.Status, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("user")
	}
	u.CreatedAt = ts(created)
	return u, err
}

func (s *server) GetUser(ctx context.Context, req *authv1.GetUserRequest) (*authv1.GetUserResponse, error) {
	uid, err := parseID(req.GetUserId(), "user")
	if err != nil {
		return nil, err
	}
	resp := &authv1.GetUserResponse{}
	err = s.inOrg(ctx, func(tx pgx.Tx, _ *authz.Identity) error {
		if resp.User, err = getUser(ctx, tx, uid.String()); err != nil {
			return err
		}
		if resp.Roles, resp.Permissions, err = rolesOf(ctx, tx, uid.String()); err != nil {
			return err
		}
		if resp.DirectRoles, _, err = directRolesOf(ctx, tx, uid.String()); err != nil {
			return err
		}
		resp.Groups, err = scanGroups(ctx, tx, `WHERE g.id IN (SELECT group_id FROM auth.group_members WHERE user_id = $1)`, uid)
		return err
	})
	return resp, err
}

// Authorize lets a service check a token it was handed (an access JWT or
// an API key) and a permission.
func (s *server) Authorize(ctx context.Context, req *authv1.AuthorizeRequest) (*authv1.AuthorizeResponse, error) {
	var id *authz.Identity
	if _, _, err := parseSecret(prefixAPIKey, req.GetToken()); err == nil {
		k, err := s.apiKeyIdentity(ctx, req.GetToken(), false)
		if err != nil {
			return nil, err
		}
		id = k
	} else {
		v, err := s.verifier.Verify(ctx, req.GetToken())
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, err.Error())
		}
		id = v
	}
	allowed := req.GetPermission() == "" || id.Can(req.GetPermission())
	return &authv1.AuthorizeResponse{Identity: identityPB(id), Allowed: allowed}, nil
}

func validPermission(p string) bool {
	if p == "*" {
		return true
	}
	res, act, ok := cutColon(p)
	return ok && slugLike(res) && (act == "*" || slugLike(act))
}

func cutColon(p string) (string, string, bool) {
	for i := range len(p) {
		if p[i] == ':' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

func slugLike(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || (i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_'))) {
			return false
		}
	}
	return true
}

func checkPermissions(perms []string) ([]string, error) {
	if len(perms) > 100 {
		return nil, invalid("at most 100 permissions")
	}
	out := slices.Clone(perms)
	for _, p := range out {
		if !validPermission(p) {
			return nil, invalid("permission %q is not resource:action", p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
