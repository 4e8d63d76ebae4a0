package botauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/pg"
	authv1 "github.com/botserver-go/botserver-go/proto/bot/auth/v1"
)

// errCredentials is the one answer to a wrong email, a wrong password and
// a disabled account, so a login reveals nothing about which accounts exist.
var errCredentials = status.Error(codes.Unauthenticated, "invalid email or password")

func throttleKey(email string) []byte {
	h := sha256.Sum256([]byte("login:" + email))
	return h[:]
}

// clientIP is the address the gateway saw (x-forwarded-for), for the audit.
func clientIP(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-forwarded-for"); len(v) > 0 && len(v[0]) < 100 {
		return v[0]
	}
	return ""
}

// Login checks a password. The steps that decide the answer take the same
// time whether or not the email exists: a locked email (existing or not)
// is refused before hashing; otherwise an unknown email is hashed against a
// dummy hash. Failures count per email, existing or not, and lock it for
// AUTH_LOCKOUT_BASE, doubling up to AUTH_LOCKOUT_MAX.
func (s *server) Login(ctx context.Context, req *authv1.LoginRequest) (*authv1.LoginResponse, error) {
	email, err := normEmail(req.GetEmail())
	if err != nil || len(req.GetPassword()) > maxPasswordBytes || req.GetPassword() == "" {
		return nil, errCredentials
	}
	now := s.now()
	key := throttleKey(email)
	// Platform read: the throttle row of this email.
	var locked *time.Time
	err = s.db.QueryRow(ctx, `SELECT locked_until FROM auth.login_throttle WHERE email_hash = $1`, key).Scan(&locked)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, s.dbErr(err)
	}
	if locked != nil && now.Before(*locked) {
		s.audit(ctx, email, "", "", "password", false, "locked")
		secs := int(locked.Sub(now).Round(time.Second) / time.Second)
		return nil, status.Errorf(codes.ResourceExhausted, "too many failed logins for this email: try again in %d seconds", max(secs, 1))
	}
	// Platform read: the one cross-org lookup of a user by email.
	var userID, hash, state string
	var pw *string
	err = s.db.QueryRow(ctx, `SELECT id, password_hash, status FROM auth.users WHERE lower(email) = $1`, email).Scan(&userID, &pw, &state)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, s.dbErr(err)
	}
	hash = s.dummy
	if pw != nil {
		hash = *pw
	}
	ok, rehash, verr := s.argon.Verify(req.GetPassword(), hash)
	if verr != nil || !ok || pw == nil || state != "active" {
		if err := s.failLogin(ctx, key, now); err != nil {
			return nil, s.dbErr(err)
		}
		s.audit(ctx, email, userID, "", "password", false, "bad_credentials")
		return nil, errCredentials
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM auth.login_throttle WHERE email_hash = $1`, key); err != nil {
		return nil, s.dbErr(err)
	}
	if rehash {
		if h, err := s.argon.Hash(req.GetPassword()); err == nil {
			_, _ = s.db.Exec(ctx, `UPDATE auth.users SET password_hash = $2, updated_at = now() WHERE id = $1`, userID, h)
		}
	}
	org, err := s.pickOrg(ctx, userID, req.GetOrg())
	if err != nil {
		s.audit(ctx, email, userID, "", "password", false, "no_org")
		return nil, err
	}
	return s.loginTo(ctx, org, userID, email, "password")
}

// loginTo opens a session of a user who proved who they are.
func (s *server) loginTo(ctx context.Context, org, userID, email, method string) (*authv1.LoginResponse, error) {
	resp := &authv1.LoginResponse{}
	err := pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		var err error
		if resp.User, err = getUser(ctx, tx, userID); err != nil {
			return err
		}
		if resp.Tokens, err = s.startSession(ctx, tx, org, userID, method); err != nil {
			return err
		}
		return s.event(ctx, tx, "bot.auth.login.succeeded", &authv1.LoginEvent{UserId: userID, OrgId: org, Email: email,
			Method: method, ClientIp: clientIP(ctx), At: timestamppb.New(s.now())})
	})
	if err != nil {
		return nil, s.dbErr(err)
	}
	s.audit(ctx, email, userID, org, method, true, "")
	return resp, nil
}

// pickOrg is the org a login opens: the named one (by slug) if the user is
// a member, else the user's oldest membership. Explicit cross-org read.
func (s *server) pickOrg(ctx context.Context, userID, slug string) (string, error) {
	var org string
	err := s.db.QueryRow(ctx, `SELECT m.org_id FROM auth.memberships m JOIN auth.orgs o ON o.id = m.org_id
		WHERE m.user_id = $1 AND ($2 = '' OR o.slug = $2) ORDER BY m.created_at, o.slug LIMIT 1`, userID, slug).Scan(&org)
	if errors.Is(err, pgx.ErrNoRows) {
		if slug != "" {
			return "", status.Error(codes.NotFound, "you are not a member of organisation "+slug)
		}
		return "", status.Error(codes.FailedPrecondition, "the account belongs to no organisation")
	}
	return org, s.dbErr(err)
}

func (s *server) failLogin(ctx context.Context, key []byte, now time.Time) error {
	var failures int
	err := s.db.QueryRow(ctx, `INSERT INTO auth.login_throttle (email_hash, failures, updated_at) VALUES ($1, 1, $2)
		ON CONFLICT (email_hash) DO UPDATE SET failures = login_throttle.failures + 1, updated_at = $2
		RETURNING failures`, key, now).Scan(&failures)
	if err != nil {
		return err
	}
	if over := failures - s.set.LockoutAfter; over >= 0 {
		d := s.set.LockoutBase << min(over, 20)
		if d > s.set.LockoutMax || d <= 0 {
			d = s.set.LockoutMax
		}
		_, err = s.db.Exec(ctx, `UPDATE auth.login_throttle SET locked_until = $2 WHERE email_hash = $1`, key, now.Add(d))
	}
	return err
}

// audit records a login attempt (platform table) and, for failures, the
// event; successes have theirs in the session's transaction. Errors are
// logged, never returned: auditing must not change the answer.
func (s *server) audit(ctx context.Context, email, userID, org, method string, ok bool, reason string) {
	nullable := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	err := pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO auth.login_audit (id, email, user_id, org_id, method, success, reason, client_ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			uuid.New(), email, nullable(userID), nullable(org), method, ok, reason, clientIP(ctx)); err != nil {
			return err
		}
		if ok {
			return nil
		}
		return s.event(ctx, tx, "bot.auth.login.failed", &authv1.LoginEvent{UserId: userID, OrgId: org, Email: email,
			Method: method, Reason: reason, ClientIp: clientIP(ctx), At: timestamppb.New(s.now())})
	})
	if err != nil {
		s.log.Error("login audit", "err", err)
	}
}

// ExchangeApiKey swaps an API key for an access token carrying the key's
// permissions (revocation applies within AUTH_ACCESS_TTL).
func (s *server) ExchangeApiKey(ctx context.Context, req *authv1.ExchangeApiKeyRequest) (*authv1.ExchangeApiKeyResponse, error) {
	id, err := s.apiKeyIdentity(ctx, req.GetApiKey(), true)
	if err != nil {
		return nil, err
	}
	ttl := s.set.AccessTTL
	tok, err := s.sign(ctx, id, ttl)
	if err != nil {
		return nil, s.dbErr(err)
	}
	return &authv1.ExchangeApiKeyResponse{Tokens: &authv1.Tokens{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), OrgId: id.OrgID}}, nil
}

func (s *server) apiKeyIdentity(ctx context.Context, key string, touch bool) (*authz.Identity, error) {
	bad := status.Error(codes.Unauthenticated, "invalid, expired or revoked API key")
	org, hash, err := parseSecret(prefixAPIKey, key)
	if err != nil {
		return nil, bad
	}
	var id *authz.Identity
	err = pg.InOrg(ctx, s.db, org, func(tx pgx.Tx) error {
		var keyID string
		var perms []string
		err := tx.QueryRow(ctx, `SELECT id, permissions FROM auth.api_keys WHERE secret_hash = $1 AND revoked_at IS NULL AND expires_at > $2`,
			hash, s.now()).Scan(&keyID, &perms)
		if errors.Is(err, pgx.ErrNoRows) {
			return bad
		}
		if err != nil {
			return err
		}
		id = &authz.Identity{Kind: authz.KindAPIKey, Subject: keyID, OrgID: org, Permissions: perms}
		if touch {
			_, err = tx.Exec(ctx, `UPDATE auth.api_keys SET last_used_at = now() WHERE id = $1`, keyID)
		}
		return err
	})
	return id, s.dbErr(err)
}

// createOrg creates an org with its built-in roles inside tx, which must
// already be in that org (pg.InOrg or asTenant with the new id).
func createOrg(ctx context.Context, tx pgx.Tx, id, slug, name string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO auth.orgs (id, slug, name) VALUES ($1, $2, $3)`, id, slug, name); err != nil {
		return err
	}
	for _, r := range builtinRoles {
		if _, err := tx.Exec(ctx, `INSERT INTO auth.roles (id, org_id, name, permissions, builtin) VALUES ($1, $2, $3, $4, true)`,
			uuid.New(), id, r.name, r.perms); err != nil {
			return err
		}
	}
	return nil
}

// addMember makes userID a member of the tx's org with role names.
func addMember(ctx context.Context, tx pgx.Tx, org, userID string, roles ...string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO auth.memberships (org_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, org, userID); err != nil {
		return err
	}
	for _, r := range roles {
		tag, err := tx.Exec(ctx, `INSERT INTO auth.member_roles (org_id, user_id, role_id) SELECT $1, $2, id FROM auth.roles WHERE name = $3
			ON CONFLICT DO NOTHING`, org, userID, r)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.roles WHERE name = $1)`, r).Scan(&exists); err != nil || !exists {
				return invalid("no role %q", r)
			}
		}
	}
	return nil
}

// ensureDefaultOrg creates authz.DefaultOrgID ("default") on first start.
func (s *server) ensureDefaultOrg(ctx context.Context) error {
	err := pg.InOrg(ctx, s.db, authz.DefaultOrgID, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.orgs WHERE id = $1)`, authz.DefaultOrgID).Scan(&exists); err != nil || exists {
			return err
		}
		return createOrg(ctx, tx, authz.DefaultOrgID, "default", "Default organisation")
	})
	if err != nil && status.Code(s.dbErr(err)) == codes.AlreadyExists {
		return nil // another replica created it meanwhile
	}
	if err != nil {
		return errors.New("default organisation: " + err.Error())
	}
	return nil
}

// bootstrap creates the first admin from BOOTSTRAP_ADMIN_EMAIL/PASSWORD
// when the platform has no user at all.
func (s *server) bootstrap(ctx context.Context) error {
	if s.set.BootstrapEmail == "" {
		return nil
	}
	email, _ := normEmail(s.set.BootstrapEmail)
	created, err := s.createAdmin(ctx, email, s.set.BootstrapPasswd, "Administrator", true)
	switch {
	case err != nil:
		return errors.New("bootstrap admin: " + err.Error())
	case created:
		s.log.Info("bootstrap: created the first admin, owner of the default organisation", "email", email)
	default:
		s.log.Info("bootstrap: users exist already; BOOTSTRAP_ADMIN_* ignored")
	}
	return nil
}

// errUserExists: the bootstrap command never touches an existing account.
var errUserExists = errors.New("a user with this email exists")

// createAdmin creates a user who owns the default organisation. With
// onlyFirst it does nothing once any user exists (the BOOTSTRAP_ADMIN_*
// flow); otherwise it refuses an email that exists (errUserExists).
func (s *server) createAdmin(ctx context.Context, email, password, name string, onlyFirst bool) (bool, error) {
	hash, err := s.argon.Hash(password)
	if err != nil {
		return false, err
	}
	created := false
	err = pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKeys+1); err != nil {
			return err
		}
		var exists bool
		var err error
		if onlyFirst {
			err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.users)`).Scan(&exists)
		} else {
			err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.users WHERE lower(email) = $1)`, email).Scan(&exists)
		}
		if err != nil {
			return err
		}
		if exists && onlyFirst {
			return nil
		}
		if exists {
			return errUserExists
		}
		uid := uuid.NewString()
		if _, err := tx.Exec(ctx, `INSERT INTO auth.users (id, email, display_name, password_hash) VALUES ($1, $2, $3, $4)`, uid, email, name, hash); err != nil {
			return err
		}
		if err := asTenant(ctx, tx, authz.DefaultOrgID); err != nil {
			return err
		}
		if err := addMember(ctx, tx, authz.DefaultOrgID, uid, "owner"); err != nil {
			return err
		}
		created = true
		return s.event(ctx, tx, "bot.auth.user.created", &authv1.UserEvent{UserId: uid, OrgId: authz.DefaultOrgID, Email: email,
			Actor: "bootstrap", At: timestamppb.New(s.now())})
	})
	return created, err
}
