DROP TRIGGER IF EXISTS channel_enqueue ON messages;
DROP FUNCTION IF EXISTS channel_enqueue();
DROP TABLE IF EXISTS channel_rate;
DROP TABLE IF EXISTS channel_outbox;
