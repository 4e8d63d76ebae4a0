-- Cheaper turns (a turn writes chat.messages and chat.conversations a few
-- times; these made Postgres do extra work on every one of those writes).

-- 1. Channel messages are queued by the statements that store bot and
-- attendant messages (store.FinishTurn, store.AddMessage), in the same
-- statement, and only for channel conversations: the row trigger ran a
-- PL/pgSQL function and a query for every bot message of every web
-- conversation too (~3 % of Postgres's CPU per turn).
DROP TRIGGER channel_enqueue ON messages;
DROP FUNCTION channel_enqueue();

-- 2. The value checks become domains. A table CHECK is parsed anew by every
-- statement that writes the table (even one that leaves the column alone:
-- ~6 % of Postgres's CPU per turn); a domain's check is parsed once per
-- backend and runs only where a value is written to the column. Clients see
-- the base type (text), so nothing else changes.
CREATE DOMAIN message_role AS text CHECK (VALUE IN ('user', 'bot', 'human', 'system'));
CREATE DOMAIN message_status AS text CHECK (VALUE IN ('pending', 'done'));
CREATE DOMAIN handoff_state AS text CHECK (VALUE IN ('bot', 'queued', 'human'));
ALTER TABLE messages DROP CONSTRAINT messages_role_check, DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ALTER COLUMN role TYPE message_role, ALTER COLUMN status TYPE message_status;
ALTER TABLE conversations DROP CONSTRAINT conversations_handoff_state_check;
ALTER TABLE conversations ALTER COLUMN handoff_state TYPE handoff_state;

-- 3. inbound_seq is the seq of the conversation's newest inbound message
-- (a user's or the open turn; Accept sets it under the row lock). A turn
-- that finishes the message of that seq leaves nothing pending, so
-- FinishTurn gives the lease up in the same update that stores the turn's
-- state, decided from the row it locked, instead of a second update.
ALTER TABLE conversations ADD COLUMN inbound_seq bigint NOT NULL DEFAULT 0;
UPDATE conversations c SET inbound_seq = m.seq
FROM (SELECT conversation_id, max(seq) AS seq FROM messages WHERE role IN ('user', 'system') GROUP BY conversation_id) m
WHERE m.conversation_id = c.id;
