-- OpenID Connect login.

-- One provider per organisation (an org's own IdP). The client secret is
-- write-only through the API.
CREATE TABLE oidc_providers (
    org_id        uuid PRIMARY KEY REFERENCES orgs ON DELETE CASCADE,
    issuer        text NOT NULL,
    client_id     text NOT NULL,
    client_secret text NOT NULL DEFAULT '',
    redirect_url  text NOT NULL DEFAULT '', -- '' : OIDC_REDIRECT_URL
    scopes        text[] NOT NULL DEFAULT '{openid,email,profile}',
    allow_signup  boolean NOT NULL DEFAULT false, -- verified emails unknown to the platform become members
    signup_role   text NOT NULL DEFAULT 'viewer',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE oidc_providers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON oidc_providers
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

-- Logins in flight: state (hashed), nonce and PKCE verifier, single use,
-- short-lived. Platform table: the state is looked up before any org is known.
CREATE TABLE oidc_logins (
    state_hash   bytea PRIMARY KEY,
    org_id       uuid,          -- the per-org provider's org; NULL: platform provider
    org_slug     text NOT NULL, -- org requested for the session ('' : the user's first)
    issuer       text NOT NULL,
    nonce        text NOT NULL,
    verifier     text NOT NULL,
    redirect_url text NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oidc_logins_expires ON oidc_logins (expires_at);
ALTER TABLE oidc_logins ENABLE ROW LEVEL SECURITY;

ALTER TABLE external_identities ADD COLUMN last_login_at timestamptz;
CREATE INDEX external_identities_user ON external_identities (user_id);
