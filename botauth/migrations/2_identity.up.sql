-- Identity and tenancy. Every business table carries org_id and the tenant
-- policy of botstate/pg/tenant.go. Platform tables (users' credentials
-- lookup, signing keys, login throttling and audit, external identities)
-- enable RLS with no policy: the tenant role sees none of their rows; only
-- botauth's few explicit cross-org queries (login by email, org by slug)
-- read them, as the schema owner.

CREATE TABLE orgs (
    id         uuid PRIMARY KEY,
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON orgs
    USING (id = current_setting('bot.org_id')::uuid)
    WITH CHECK (id = current_setting('bot.org_id')::uuid);

-- Users are platform-wide (one person, one login, several orgs).
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    password_hash text, -- argon2id PHC string; NULL for OIDC-only users
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
ALTER TABLE users ENABLE ROW LEVEL SECURITY;

CREATE TABLE memberships (
    org_id     uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON memberships
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

-- A tenant sees and updates the users who are members of its org, and
-- never creates users (that is a platform operation).
CREATE POLICY member_read ON users FOR SELECT
    USING (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.org_id = current_setting('bot.org_id')::uuid));
CREATE POLICY member_update ON users FOR UPDATE
    USING (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.org_id = current_setting('bot.org_id')::uuid));

CREATE TABLE roles (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    permissions text[] NOT NULL DEFAULT '{}',
    builtin     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);
ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON roles
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

CREATE TABLE member_roles (
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    role_id    uuid NOT NULL REFERENCES roles ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id, role_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships ON DELETE CASCADE
);
ALTER TABLE member_roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON member_roles
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

CREATE TABLE invitations (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    email       text NOT NULL,
    role_id     uuid NOT NULL REFERENCES roles ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    created_by  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON invitations
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    secret_hash  bytea NOT NULL UNIQUE,
    permissions  text[] NOT NULL,
    created_by   text NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON api_keys
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

-- A login session: one family of refresh tokens. Revoking it ends them all.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    method         text NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user ON sessions (org_id, user_id);
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sessions
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY,
    org_id     uuid NOT NULL,
    session_id uuid NOT NULL REFERENCES sessions ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON refresh_tokens
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

CREATE TABLE bots (
    id         uuid PRIMARY KEY,
    org_id     uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    name       text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    title      text NOT NULL DEFAULT '',
    public     boolean NOT NULL DEFAULT false,
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);
ALTER TABLE bots ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON bots
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

CREATE TABLE visitor_sessions (
    id         uuid PRIMARY KEY,
    org_id     uuid NOT NULL,
    bot_id     uuid NOT NULL REFERENCES bots ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE visitor_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON visitor_sessions
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

-- Platform tables: no tenant policy.
CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    seed         bytea NOT NULL,
    activates_at timestamptz NOT NULL,
    retires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE signing_keys ENABLE ROW LEVEL SECURITY;

-- Failed logins per email (existing or not, so lockout reveals nothing).
CREATE TABLE login_throttle (
    email_hash   bytea PRIMARY KEY,
    failures     integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE login_throttle ENABLE ROW LEVEL SECURITY;

CREATE TABLE login_audit (
    id        uuid PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    email     text NOT NULL,
    user_id   uuid,
    org_id    uuid,
    method    text NOT NULL,
    success   boolean NOT NULL,
    reason    text NOT NULL DEFAULT '',
    client_ip text NOT NULL DEFAULT ''
);
CREATE INDEX login_audit_at ON login_audit (at);
ALTER TABLE login_audit ENABLE ROW LEVEL SECURITY;

CREATE TABLE external_identities (
    issuer     text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    email      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
ALTER TABLE external_identities ENABLE ROW LEVEL SECURITY;
