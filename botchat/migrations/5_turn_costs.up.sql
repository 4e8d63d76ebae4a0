-- Cheaper turns: a turn writes chat.messages and chat.conversations a few
-- times, and each of these made Postgres do extra work on those writes.
-- Compatible with the previous release's code running during an upgrade
-- (deploy/README.md, "Upgrading and migrations"): see 1. and 3.

-- 1. Channel messages are queued by the statements that store bot and
-- attendant messages (store.FinishTurn, store.AddMessage), in the same
-- statement and only for channel conversations, and those statements mark
-- the rows outbox_done. The row trigger ran a PL/pgSQL function and a query
-- for every bot message of every web conversation too (~3 % of Postgres's
-- CPU per turn); it stays for one release, for the previous release's
-- writers, and fires only for their rows (a WHEN clause costs next to
-- nothing). Contract in a later release: drop the trigger, its function
-- and the column.
ALTER TABLE messages ADD COLUMN outbox_done boolean NOT NULL DEFAULT false;
-- (Re-created below: a column used in a trigger cannot change type.)
DROP TRIGGER channel_enqueue ON messages;

-- 2. The value checks become domains. A table CHECK is parsed anew by every
-- statement that writes the table (even one that leaves the column alone:
-- ~6 % of Postgres's CPU per turn); a domain's check is parsed once per
-- backend and runs only where a value is written to the column. Clients see
-- the base type (text). The domains get their checks after the columns
-- change type, so the tables are scanned, not rewritten.
CREATE DOMAIN message_role AS text;
CREATE DOMAIN message_status AS text;
CREATE DOMAIN handoff_state AS text;
ALTER TABLE messages DROP CONSTRAINT messages_role_check, DROP CONSTRAINT messages_status_check,
    ALTER COLUMN role TYPE message_role, ALTER COLUMN status TYPE message_status;
ALTER TABLE conversations DROP CONSTRAINT conversations_handoff_state_check,
    ALTER COLUMN handoff_state TYPE handoff_state;
ALTER DOMAIN message_role ADD CONSTRAINT message_role_check CHECK (VALUE IN ('user', 'bot', 'human', 'system')) NOT VALID;
ALTER DOMAIN message_status ADD CONSTRAINT message_status_check CHECK (VALUE IN ('pending', 'done')) NOT VALID;
ALTER DOMAIN handoff_state ADD CONSTRAINT handoff_state_check CHECK (VALUE IN ('bot', 'queued', 'human')) NOT VALID;
ALTER DOMAIN message_role VALIDATE CONSTRAINT message_role_check;
ALTER DOMAIN message_status VALIDATE CONSTRAINT message_status_check;
ALTER DOMAIN handoff_state VALIDATE CONSTRAINT handoff_state_check;

CREATE TRIGGER channel_enqueue AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.role IN ('bot', 'human') AND NOT NEW.outbox_done)
    EXECUTE FUNCTION channel_enqueue();

-- 3. inbound_seq is the seq of the conversation's newest inbound message
-- (a user's or the open turn; Accept sets it under the row lock). A turn
-- that finishes the message of that seq leaves nothing pending, so
-- FinishTurn gives the lease up in the same update that stores the turn's
-- state, decided from the row it locked, instead of a second update.
-- During an upgrade, a message that a previous-release replica accepts while
-- a new one runs the conversation is not counted: the lease is given up and
-- the sweeper runs the message (CHAT_SWEEP_INTERVAL, 5 s).
ALTER TABLE conversations ADD COLUMN inbound_seq bigint NOT NULL DEFAULT 0;
UPDATE conversations c SET inbound_seq = m.seq
FROM (SELECT conversation_id, max(seq) AS seq FROM messages WHERE role IN ('user', 'system') GROUP BY conversation_id) m
WHERE m.conversation_id = c.id;
