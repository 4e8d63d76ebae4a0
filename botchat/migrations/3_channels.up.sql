-- Channels (WhatsApp, Telegram, generic webhook): the outbox of sends to
-- channel users and the per-bot send rate. Both are per organisation under
-- row-level security; only the outbox worker's claim reads across
-- organisations (ids and due times).

-- One row per bot or attendant message of a channel conversation. The
-- message id is the idempotency key: a message is queued once and its
-- parts are marked sent one by one, so a retry never repeats a part that
-- went out.
CREATE TABLE channel_outbox (
    seq             bigserial PRIMARY KEY,
    org_id          uuid NOT NULL,
    bot             text NOT NULL,
    channel         text NOT NULL,
    -- address is the recipient on the channel (phone number, chat id, user).
    address         text NOT NULL,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      uuid NOT NULL UNIQUE,
    content         text NOT NULL,
    suggestions     jsonb,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    -- parts_sent counts the parts (a long text is split) the channel accepted.
    parts_sent      integer NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 0,
    next_at         timestamptz NOT NULL DEFAULT now(),
    -- A worker's claim (token and expiry): one worker sends a row at a
    -- time, and a worker that died mid-send lets go when lease_until passes.
    claim_token     uuid,
    lease_until     timestamptz,
    last_error      text NOT NULL DEFAULT '',
    -- external_ids are the ids the channel gave the sent parts.
    external_ids    jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX channel_outbox_due ON channel_outbox (next_at) WHERE status IN ('pending', 'sending');
CREATE INDEX channel_outbox_conv ON channel_outbox (conversation_id, seq) WHERE status IN ('pending', 'sending');

-- The per-bot, per-channel send rate: next_at is when the next send may go
-- (a virtual schedule shared by every replica).
CREATE TABLE channel_rate (
    org_id  uuid NOT NULL,
    bot     text NOT NULL,
    channel text NOT NULL,
    next_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, bot, channel)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['channel_outbox', 'channel_rate'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant ON %I
            USING (org_id = current_setting('bot.org_id')::uuid)
            WITH CHECK (org_id = current_setting('bot.org_id')::uuid)$p$, t);
    END LOOP;
END $$;

-- Every bot or attendant message of a channel conversation is queued in the
-- transaction that stores it: nothing stored is lost, nothing is queued
-- twice. Runs as the caller (bot_tenant, under the same RLS).
CREATE FUNCTION channel_enqueue() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    -- (The CASE is in parentheses: IF reads up to the first THEN.)
    IF NEW.content = '' AND (CASE WHEN jsonb_typeof(NEW.suggestions) = 'array'
            THEN jsonb_array_length(NEW.suggestions) ELSE 0 END) = 0 THEN
        RETURN NULL;
    END IF;
    INSERT INTO chat.channel_outbox (org_id, bot, channel, address, conversation_id, message_id, content, suggestions)
    SELECT c.org_id, c.bot, c.channel, c.channel_address, c.id, NEW.id, NEW.content, NEW.suggestions
    FROM chat.conversations c
    WHERE c.id = NEW.conversation_id AND c.channel <> 'web' AND c.channel_address <> ''
    ON CONFLICT (message_id) DO NOTHING;
    RETURN NULL;
END
$f$;

CREATE TRIGGER channel_enqueue AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.role IN ('bot', 'human'))
    EXECUTE FUNCTION channel_enqueue();
