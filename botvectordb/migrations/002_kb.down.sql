DROP FUNCTION IF EXISTS text_candidates(uuid[], tsquery, tsquery, int, int);
DROP TABLE IF EXISTS embeddings, chunks, documents, collections;
