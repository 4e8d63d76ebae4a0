-- Every table is per organisation and protected by row-level security
-- (see botstate/pg/tenant.go): queries run through pg.InOrg.

-- Bot packages as loaded: the live version of each bot.
CREATE TABLE bots (
    org_id      uuid NOT NULL,
    bot         text NOT NULL,
    version     text NOT NULL,          -- hash of the package content that is live
    config      jsonb NOT NULL DEFAULT '{}',
    prompt      text NOT NULL DEFAULT '',
    scripts     jsonb NOT NULL DEFAULT '{}', -- script name -> live program version
    diagnostics jsonb NOT NULL DEFAULT '[]',
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, bot)
);

-- Every program version a bot ran, kept so a conversation waiting at HEAR
-- resumes on the version it started with after a re-deploy.
CREATE TABLE programs (
    org_id     uuid NOT NULL,
    bot        text NOT NULL,
    name       text NOT NULL,
    version    text NOT NULL,
    source     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, bot, name, version)
);

-- One row per conversation botauto has seen (so start.bas runs once); state
-- is the suspended machine while a script waits at HEAR, NULL otherwise.
CREATE TABLE conversations (
    org_id          uuid NOT NULL,
    conversation_id text NOT NULL,
    bot             text NOT NULL,
    script          text NOT NULL,
    program_version text NOT NULL,
    state           bytea,
    expires_at      timestamptz,
    turn            bigint NOT NULL DEFAULT 0, -- optimistic concurrency
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, conversation_id)
);
CREATE INDEX conversations_expiry ON conversations (expires_at) WHERE expires_at IS NOT NULL;

-- Bot, user and conversation memories (SET BOT MEMORY, SET USER MEMORY,
-- REMEMBER). owner is '' for bot memory, the user id, or the conversation id.
CREATE TABLE memories (
    org_id     uuid NOT NULL,
    bot        text NOT NULL,
    scope      text NOT NULL CHECK (scope IN ('bot', 'user', 'conversation')),
    owner      text NOT NULL,
    key        text NOT NULL,
    value      jsonb NOT NULL,
    expires_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, bot, scope, owner, key)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['bots', 'programs', 'conversations', 'memories'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant ON %I
            USING (org_id = current_setting('bot.org_id')::uuid)
            WITH CHECK (org_id = current_setting('bot.org_id')::uuid)$p$, t);
    END LOOP;
END $$;
