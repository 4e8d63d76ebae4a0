-- Token usage per org, bot, model and day (UTC), added to in batches.
CREATE TABLE usage_daily (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL,
    bot               text NOT NULL,
    model             text NOT NULL,
    day               date NOT NULL,
    requests          bigint NOT NULL DEFAULT 0,
    cached_requests   bigint NOT NULL DEFAULT 0,
    failed_requests   bigint NOT NULL DEFAULT 0,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, day, bot, model)
);
ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON usage_daily
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

-- Monthly token budgets: bot '' is the whole organisation's.
CREATE TABLE budgets (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL,
    bot                 text NOT NULL DEFAULT '',
    monthly_token_limit bigint NOT NULL CHECK (monthly_token_limit > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, bot)
);
ALTER TABLE budgets ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON budgets
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
