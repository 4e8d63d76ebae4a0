ALTER TABLE conversations DROP COLUMN inbound_seq;

ALTER TABLE conversations ALTER COLUMN handoff_state TYPE text;
ALTER TABLE conversations ADD CONSTRAINT conversations_handoff_state_check CHECK (handoff_state IN ('bot', 'queued', 'human'));
ALTER TABLE messages ALTER COLUMN role TYPE text, ALTER COLUMN status TYPE text;
ALTER TABLE messages ADD CONSTRAINT messages_role_check CHECK (role IN ('user', 'bot', 'human', 'system')),
    ADD CONSTRAINT messages_status_check CHECK (status IN ('pending', 'done'));
DROP DOMAIN handoff_state;
DROP DOMAIN message_status;
DROP DOMAIN message_role;

CREATE FUNCTION channel_enqueue() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
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
