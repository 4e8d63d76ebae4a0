package pg

// baseSQL is version 1 of every service schema. Keep it backwards compatible:
// a change here is a new migration in every schema, so add a version instead.
const baseSQL = `
CREATE SCHEMA IF NOT EXISTS {{.Schema}};

-- Events written in the same transaction as the change they describe; the
-- relay publishes them to JetStream with Nats-Msg-Id = id.
CREATE TABLE {{.Schema}}.outbox (
    id           uuid PRIMARY KEY,
    subject      text NOT NULL,
    payload      bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON {{.Schema}}.outbox (created_at) WHERE published_at IS NULL;

-- Ids of events a consumer of this service has handled, for idempotency.
CREATE TABLE {{.Schema}}.processed_events (
    consumer     text NOT NULL,
    event_id     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
`
