-- text_candidates, cheaper: it takes the query text (one round trip less),
-- ranks the any-word tier only when the all-words tier leaves room and over
-- at most cap_any matches (ranking is most of its cost: ts_rank_cd reads
-- each match's tsvector from the heap), and never JIT-compiles (its plans
-- are small; compiling one cost more than running it). Scoping is as
-- before: the caller's organisation from bot.org_id, never an argument; it
-- raises when none is set.
DROP FUNCTION text_candidates(uuid[], tsquery, tsquery, int, int);

CREATE FUNCTION text_candidates(collections uuid[], q text, n int, cap int, cap_any int)
RETURNS TABLE (id uuid) LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off AS $fn$
#variable_conflict use_column
DECLARE
    org uuid := nullif(current_setting('bot.org_id', true), '')::uuid;
    qa tsquery;
    qo tsquery;
    got int;
BEGIN
    IF org IS NULL THEN
        RAISE EXCEPTION 'kb.text_candidates: no organisation in scope (bot.org_id)';
    END IF;
    qa := plainto_tsquery('english', q);
    IF numnode(qa) = 0 OR cardinality(collections) IS NULL OR cardinality(collections) = 0 THEN
        RETURN; -- only stop words, or no collection
    END IF;
    -- Chunks with all the query's words.
    RETURN QUERY
        SELECT m.id FROM (
            SELECT c.id, c.tsv FROM kb.chunks c
            WHERE c.org_id = org AND c.collection_id = ANY(collections) AND c.tsv @@ qa LIMIT cap) m
        ORDER BY ts_rank_cd(m.tsv, qa) DESC, m.id LIMIT n;
    GET DIAGNOSTICS got = ROW_COUNT;
    qo := replace(qa::text, ' & ', ' | ')::tsquery;
    IF got >= n OR qo = qa THEN
        RETURN;
    END IF;
    -- Then chunks with any of them (and not all: those came first).
    RETURN QUERY
        SELECT m.id FROM (
            SELECT c.id, c.tsv FROM kb.chunks c
            WHERE c.org_id = org AND c.collection_id = ANY(collections) AND c.tsv @@ qo AND NOT c.tsv @@ qa
            LIMIT cap_any) m
        ORDER BY ts_rank_cd(m.tsv, qo) DESC, m.id LIMIT n - got;
END
$fn$;
-- EXECUTE stays granted to PUBLIC (the default): calling it needs USAGE on
-- schema kb (the tenant role's), and without bot.org_id set it raises.
