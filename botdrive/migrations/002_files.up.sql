-- Files of bot packages: one row per stored file, the metadata the API
-- serves and the reconcile compares storage against.
CREATE TABLE files (
    org_id       uuid NOT NULL,
    bot          text COLLATE "C" NOT NULL,
    -- Relative to the package root; byte order ("C") matches S3 listings.
    path         text COLLATE "C" NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    hash         text NOT NULL,          -- hex sha256 of the content
    content_type text NOT NULL,
    -- The storage ETag the hash was computed for, and when: an object whose
    -- ETag is unchanged (and was not modified around that time) is not
    -- hashed again by the reconcile.
    etag         text NOT NULL,
    verified_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    modified_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, bot, path)
);

-- Per-org totals, kept by a trigger so quota checks do not sum every row.
CREATE TABLE usage (
    org_id uuid PRIMARY KEY,
    bytes  bigint NOT NULL DEFAULT 0,
    files  bigint NOT NULL DEFAULT 0
);

-- Per-org quota overrides; absent: the platform default (DRIVE_QUOTA_BYTES).
CREATE TABLE quotas (
    org_id      uuid PRIMARY KEY,
    quota_bytes bigint NOT NULL CHECK (quota_bytes >= 0), -- 0: unlimited
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION files_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO drive.usage (org_id, bytes, files) VALUES (NEW.org_id, NEW.size, 1)
        ON CONFLICT (org_id) DO UPDATE SET bytes = drive.usage.bytes + EXCLUDED.bytes, files = drive.usage.files + 1;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE drive.usage SET bytes = bytes - OLD.size, files = files - 1 WHERE org_id = OLD.org_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER files_usage AFTER INSERT OR UPDATE OF size OR DELETE ON files
    FOR EACH ROW EXECUTE FUNCTION files_usage();

ALTER TABLE files ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON files
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
ALTER TABLE usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON usage
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
ALTER TABLE quotas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON quotas
    USING (org_id = current_setting('bot.org_id')::uuid)
    WITH CHECK (org_id = current_setting('bot.org_id')::uuid);
