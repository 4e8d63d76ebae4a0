DROP FUNCTION IF EXISTS text_candidates(uuid[], text, int, int, int);

-- The function of 002.
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
