ALTER TABLE conversations DROP COLUMN inbound_seq;

DROP TRIGGER channel_enqueue ON messages;
ALTER TABLE conversations ALTER COLUMN handoff_state TYPE text,
    ADD CONSTRAINT conversations_handoff_state_check CHECK (handoff_state IN ('bot', 'queued', 'human'));
ALTER TABLE messages ALTER COLUMN role TYPE text, ALTER COLUMN status TYPE text,
    ADD CONSTRAINT messages_role_check CHECK (role IN ('user', 'bot', 'human', 'system')),
    ADD CONSTRAINT messages_status_check CHECK (status IN ('pending', 'done'));
DROP DOMAIN handoff_state;
DROP DOMAIN message_status;
DROP DOMAIN message_role;

ALTER TABLE messages DROP COLUMN outbox_done;
CREATE TRIGGER channel_enqueue AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.role IN ('bot', 'human'))
    EXECUTE FUNCTION channel_enqueue();
