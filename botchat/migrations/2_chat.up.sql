-- Conversations and their messages. Every table is per organisation and
-- protected by row-level security (see botstate/pg/tenant.go): queries run
-- through pg.InOrg. Only the lease sweeper reads across organisations.

-- One conversation of a user (or visitor, or channel address) with a bot,
-- with what its scripts set (knowledge bases, tools, contexts, switchers,
-- suggestions) and who answers it (hand-off state).
CREATE TABLE conversations (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL,
    bot              text NOT NULL,
    user_id          text NOT NULL,
    user_kind        text NOT NULL,
    channel          text NOT NULL DEFAULT 'web',
    channel_address  text NOT NULL DEFAULT '',
    handoff_state    text NOT NULL DEFAULT 'bot' CHECK (handoff_state IN ('bot', 'queued', 'human')),
    handoff_queue    text NOT NULL DEFAULT '',
    agent_id         text NOT NULL DEFAULT '',
    handoff_at       timestamptz,
    kbs              jsonb NOT NULL DEFAULT '[]',
    tools            jsonb NOT NULL DEFAULT '[]',
    contexts         jsonb NOT NULL DEFAULT '{}',
    switchers        jsonb NOT NULL DEFAULT '[]',
    suggestions      jsonb NOT NULL DEFAULT '[]',
    active_switchers jsonb NOT NULL DEFAULT '[]',
    script_user      text NOT NULL DEFAULT '',
    -- next_seq is the last seq given to a message of the conversation.
    next_seq         bigint NOT NULL DEFAULT 0,
    -- The replica processing the conversation's pending messages holds a
    -- lease: one turn at a time, in seq order, whichever replica took them.
    lease_token      uuid,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_user ON conversations (org_id, user_id, bot, created_at);
CREATE INDEX conversations_handoff ON conversations (org_id, handoff_state, handoff_queue, handoff_at)
    WHERE handoff_state <> 'bot';
CREATE UNIQUE INDEX conversations_channel ON conversations (org_id, bot, channel, channel_address)
    WHERE channel_address <> '';

-- Messages in conversation order (seq). Inbound messages wait as pending
-- until their turn has run; bot output is written once per turn, never per
-- streamed token.
CREATE TABLE messages (
    org_id          uuid NOT NULL,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    -- position orders history as the conversation went: a user message at
    -- seq*1000, its turn's answers right after it (seq is storage order).
    position        bigint NOT NULL,
    id              uuid NOT NULL UNIQUE,
    role            text NOT NULL CHECK (role IN ('user', 'bot', 'human', 'system')),
    message_type    smallint NOT NULL,
    content         text NOT NULL,
    -- args: a directly run tool's arguments; active switchers of a user message.
    args            jsonb,
    client_id       text,
    reply_to        uuid,
    status          text NOT NULL DEFAULT 'done' CHECK (status IN ('pending', 'done')),
    tokens          integer NOT NULL DEFAULT 0,
    latency_ms      integer NOT NULL DEFAULT 0,
    model           text NOT NULL DEFAULT '',
    suggestions     jsonb,
    switchers       jsonb,
    -- chunks are the byte lengths of the streamed pieces, so a client that
    -- saw some of them gets exactly the rest after a reconnect.
    chunks          integer[],
    cancelled       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_client ON messages (conversation_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX messages_pending ON messages (conversation_id, seq) WHERE status = 'pending';
CREATE INDEX messages_position ON messages (conversation_id, position);
CREATE INDEX messages_reply ON messages (reply_to) WHERE reply_to IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['conversations', 'messages'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant ON %I
            USING (org_id = current_setting('bot.org_id')::uuid)
            WITH CHECK (org_id = current_setting('bot.org_id')::uuid)$p$, t);
    END LOOP;
END $$;
