-- Knowledge bases: one collection per <bot>.gbkb/<name> folder.
CREATE TABLE collections (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    bot         text NOT NULL,
    name        text NOT NULL,
    -- Bumped whenever the embedded backend's vectors of this collection
    -- change, so every replica's in-memory index knows when to refresh.
    vec_version bigint NOT NULL DEFAULT 0,
    -- Size of the embedded backend's vectors here (0: none yet).
    vec_dim     int NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, bot, name)
);

-- One row per file of a knowledge base, with its ingestion state:
-- queued -> extracting -> embedding -> indexed | failed.
CREATE TABLE documents (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL,
    collection_id   uuid NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    bot             text NOT NULL,
    kb              text NOT NULL,
    path            text NOT NULL,
    hash            text NOT NULL,
    size            bigint NOT NULL DEFAULT 0,
    content_type    text NOT NULL DEFAULT '',
    modified_at     timestamptz,
    status          text NOT NULL CHECK (status IN ('queued', 'extracting', 'embedding', 'indexed', 'failed')),
    error           text NOT NULL DEFAULT '',
    attempts        int NOT NULL DEFAULT 0,
    chunks          int NOT NULL DEFAULT 0,
    truncated       boolean NOT NULL DEFAULT false,
    -- Embedding model of the indexed vectors; a different current model
    -- queues the document again at start.
    model           text NOT NULL DEFAULT '',
    -- Set while a worker holds the document (extracting/embedding); a lease
    -- past lease_until is taken back by the sweeper.
    lease_token     uuid,
    lease_until     timestamptz,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    queued_at       timestamptz NOT NULL DEFAULT now(),
    indexed_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, bot, path)
);
CREATE INDEX documents_due ON documents (next_attempt_at) WHERE status = 'queued';
CREATE INDEX documents_leased ON documents (lease_until) WHERE status IN ('extracting', 'embedding');
CREATE INDEX documents_collection ON documents (collection_id, status);

-- Passages of indexed documents, with their full-text vector.
CREATE TABLE chunks (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL,
    collection_id uuid NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    document_id   uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal       int NOT NULL,
    heading       text NOT NULL DEFAULT '',
    text          text NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (
                      setweight(to_tsvector('english', heading), 'B') || to_tsvector('english', text)) STORED,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- fastupdate off: no pending list for searches to scan linearly after a
-- burst of ingestion (inserts pay instead; ingestion has the headroom).
CREATE INDEX chunks_tsv ON chunks USING gin (tsv) WITH (fastupdate = off);
CREATE INDEX chunks_document ON chunks (document_id);
CREATE INDEX chunks_collection ON chunks (collection_id);

-- The embedded backend's vectors (little-endian float32, L2-normalised).
-- Qdrant keeps its own; this table then stays empty.
CREATE TABLE embeddings (
    chunk_id      uuid PRIMARY KEY,
    org_id        uuid NOT NULL,
    collection_id uuid NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    document_id   uuid NOT NULL,
    vector        bytea NOT NULL
);
CREATE INDEX embeddings_collection ON embeddings (collection_id);
CREATE INDEX embeddings_document ON embeddings (document_id);

ALTER TABLE collections ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE embeddings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON collections USING (org_id = current_setting('bot.org_id')::uuid) WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
CREATE POLICY tenant ON documents USING (org_id = current_setting('bot.org_id')::uuid) WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
CREATE POLICY tenant ON chunks USING (org_id = current_setting('bot.org_id')::uuid) WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
CREATE POLICY tenant ON embeddings USING (org_id = current_setting('bot.org_id')::uuid) WITH CHECK (org_id = current_setting('bot.org_id')::uuid);

-- Full-text candidates of one search, in the caller's organisation (the
-- bot.org_id setting pg.InOrg sets; never an argument). Under row-level
-- security Postgres cannot use the GIN index for tsv @@ q (@@ is not
-- leakproof, so the tenant filter must run first) and scans every chunk of
-- the org; this function runs as the schema owner and applies the tenant
-- filter itself, so the index serves the match. Each tier ranks at most
-- cap matches: chunks with all the query's words first, then any.
CREATE FUNCTION text_candidates(collections uuid[], qa tsquery, qo tsquery, n int, cap int)
RETURNS TABLE (id uuid) LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
    org uuid := nullif(current_setting('bot.org_id', true), '')::uuid;
BEGIN
    IF org IS NULL THEN
        RAISE EXCEPTION 'kb.text_candidates: no organisation in scope (bot.org_id)';
    END IF;
    RETURN QUERY
    WITH all_terms AS (
        SELECT m.id, ts_rank_cd(m.tsv, qa) AS r FROM (
            SELECT c.id, c.tsv FROM kb.chunks c
            WHERE c.org_id = org AND c.collection_id = ANY(collections) AND c.tsv @@ qa LIMIT cap) m
        ORDER BY r DESC, m.id LIMIT n),
    any_term AS (
        SELECT m.id, ts_rank_cd(m.tsv, qo) AS r FROM (
            SELECT c.id, c.tsv FROM kb.chunks c
            WHERE c.org_id = org AND c.collection_id = ANY(collections) AND c.tsv @@ qo LIMIT cap) m
        ORDER BY r DESC, m.id LIMIT n)
    SELECT t.id FROM (
        SELECT a.id, 1 AS tier, a.r FROM all_terms a
        UNION ALL
        SELECT o.id, 2, o.r FROM any_term o WHERE o.id NOT IN (SELECT a2.id FROM all_terms a2)) t
    ORDER BY t.tier, t.r DESC, t.id LIMIT n;
END
$fn$;
-- EXECUTE stays granted to PUBLIC (the default): without bot.org_id set
-- the function raises, so no caller reaches rows outside its org.
