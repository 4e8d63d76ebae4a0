-- Rows of the bot tables scripts declare with TABLE ... END TABLE. One
-- generic table keeps every bot's rows as JSON, so deploying a package never
-- runs DDL; the declared fields are checked by the runtime on every write.
CREATE TABLE table_rows (
    org_id     uuid NOT NULL,
    bot        text NOT NULL,
    tbl        text NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, bot, tbl, id)
);
ALTER TABLE table_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON table_rows
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
