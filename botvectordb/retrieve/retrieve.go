// Package retrieve finds the passages of a bot's knowledge bases that best
// answer a query: nearest vectors (index.Backend) and Postgres full-text
// matches (tsvector, 'english' configuration) merged by reciprocal rank
// fusion.
package retrieve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/store"
)

// Mode chooses the retrieval methods.
type Mode int

const (
	Hybrid Mode = iota
	Vector
	Text
)

// Limits of a request.
const (
	DefaultTopK = 5
	MaxTopK     = 50
	MaxQuery    = 4096
)

// Searcher runs searches.
type Searcher struct {
	Pool     *pgxpool.Pool
	Index    index.Backend
	Embedder embed.Embedder
	// MinSimilarity drops vector candidates below this cosine similarity, so
	// a query unrelated to every passage finds nothing rather than the
	// least unrelated ones. Default 0.1.
	MinSimilarity float32
	// K is the reciprocal rank fusion constant; default 60.
	K int
}

// Request is one search, in the org of OrgID (the caller's verified org).
type Request struct {
	OrgID, Bot string
	KBs        []string // empty: all of the bot's
	Query      string
	TopK       int
	MinScore   float32
	Mode       Mode
}

// Passage is one result.
type Passage struct {
	ChunkID, DocumentID string
	Text, Heading       string
	Path, KB            string
	Ordinal             int
	Score               float32 // fused, 0..1
	Similarity          float32 // cosine similarity (0 if not a vector hit)
}

// ErrInvalid wraps errors in the request.
var ErrInvalid = errors.New("invalid search")

// UnknownKBError names knowledge bases the bot does not have.
type UnknownKBError struct{ Names []string }

func (e *UnknownKBError) Error() string {
	return fmt.Sprintf("knowledge base not found: %s", strings.Join(e.Names, ", "))
}

// Search answers r.
func (s *Searcher) Search(ctx context.Context, r Request) ([]Passage, error) {
	if err := store.CheckBot(r.Bot); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	q := strings.TrimSpace(r.Query)
	switch {
	case q == "":
		return nil, fmt.Errorf("%w: query is empty", ErrInvalid)
	case len(q) > MaxQuery || !utf8.ValidString(q):
		return nil, fmt.Errorf("%w: query must be valid UTF-8 of at most %d bytes", ErrInvalid, MaxQuery)
	case r.TopK < 0 || r.TopK > MaxTopK:
		return nil, fmt.Errorf("%w: top_k must be between 1 and %d", ErrInvalid, MaxTopK)
	case r.MinScore < 0 || r.MinScore > 1:
		return nil, fmt.Errorf("%w: min_score must be between 0 and 1", ErrInvalid)
	}
	if r.TopK == 0 {
		r.TopK = DefaultTopK
	}
	names, err := kbNames(r.Bot, r.KBs)
	if err != nil {
		return nil, err
	}
	useVec, useText := r.Mode != Text, r.Mode != Vector
	n := max(4*r.TopK, 40) // candidates per method

	// Two round trips to Postgres, each one implicit transaction scoped to
	// the org: the collections and the full-text candidates (pipelined),
	// then the passages. The vector search runs in this process while
	// Postgres ranks the text (the collections' result comes back first).
	type searched struct {
		hits []index.Hit
		err  error
	}
	var cs []index.Collection
	var textHits []string
	var vecDone chan searched
	err = pg.InOrgBatch(ctx, s.Pool, r.OrgID, func(b *pgx.Batch) {
		store.QueueCollections(b, r.Bot, names)
		if useText {
			// kb.text_candidates scopes to the org of this transaction
			// itself; it exists so the GIN index can serve the match under
			// row-level security. The collections are those the first
			// query returns, read again under row-level security.
			b.Queue(`SELECT id::text FROM kb.text_candidates(
					ARRAY(SELECT c.id FROM kb.collections c WHERE c.bot = $1 AND (coalesce(cardinality($2::text[]), 0) = 0 OR c.name = ANY($2::text[]))),
					$3, $4, $5, $6)`, r.Bot, names, q, n, rankCap, rankCapAny)
		}
	}, func(br pgx.BatchResults) error {
		var err error
		if cs, err = store.ReadCollections(br); err != nil {
			return err
		}
		if useVec && len(cs) > 0 && (len(names) == 0 || len(cs) == len(names)) {
			vecDone = make(chan searched, 1)
			go func() {
				// Embedded only now: a remote embedder's call is not paid
				// for a search that has no knowledge base to look in.
				v, err := s.Embedder.Embed(ctx, []string{q})
				if err == nil && len(v) != 1 {
					err = fmt.Errorf("embedder returned %d vectors for 1 text", len(v))
				}
				if err != nil {
					vecDone <- searched{err: fmt.Errorf("embedding the query: %w", err)}
					return
				}
				hits, err := s.Index.Search(ctx, cs, v[0], n)
				if err != nil {
					err = fmt.Errorf("vector search: %w", err)
				}
				vecDone <- searched{hits, err}
			}()
		}
		if !useText {
			return nil
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		textHits, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	var vecHits []index.Hit
	if vecDone != nil {
		v := <-vecDone // even after an error: the goroutine uses cs
		vecHits = v.hits
		if err == nil {
			err = v.err
		}
	}
	if err != nil {
		return nil, err
	}
	if len(names) > 0 && len(cs) < len(names) {
		return nil, unknown(names, cs)
	}
	if len(cs) == 0 {
		return nil, nil
	}
	return s.fuseAndFetch(ctx, r, vecHits, textHits, useVec, useText)
}

// fuseAndFetch merges the methods' candidates and reads the passages.
func (s *Searcher) fuseAndFetch(ctx context.Context, r Request, hits []index.Hit, textHits []string, useVec, useText bool) ([]Passage, error) {
	var vecHits []index.Hit
	sims := map[string]float32{}
	if useVec {
		minSim := s.MinSimilarity
		if minSim == 0 {
			minSim = 0.1
		}
		for _, h := range hits {
			if h.Score >= minSim {
				vecHits = append(vecHits, h)
				sims[h.ChunkID] = h.Score
			}
		}
	}

	// Reciprocal rank fusion, scaled so that first place in every method
	// used is 1.
	k := float32(cmp.Or(s.K, 60))
	methods := float32(0)
	fused := map[string]float32{}
	if useVec {
		methods++
		for i, h := range vecHits {
			fused[h.ChunkID] += 1 / (k + float32(i+1))
		}
	}
	textRank := map[string]int{}
	if useText {
		methods++
		for i, id := range textHits {
			fused[id] += 1 / (k + float32(i+1))
			textRank[id] = i + 1
		}
	}
	top := float32(methods) / (k + 1)
	order := make([]string, 0, len(fused))
	for id, f := range fused {
		if f/top >= r.MinScore {
			order = append(order, id)
		}
	}
	// Ties (first by one method vs first by the other) go to the exact
	// words of a full-text match over vector closeness.
	rankOr := func(id string) int {
		if r, ok := textRank[id]; ok {
			return r
		}
		return len(textHits) + 1
	}
	slices.SortFunc(order, func(a, b string) int {
		if c := cmp.Compare(fused[b], fused[a]); c != 0 {
			return c
		}
		if c := cmp.Compare(rankOr(a), rankOr(b)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	// Fetch a few more than needed: a vector hit may belong to a chunk
	// replaced a moment ago.
	order = order[:min(len(order), r.TopK+r.TopK/2+2)]
	if len(order) == 0 {
		return nil, nil
	}
	var out []Passage
	err := pg.InOrgBatch(ctx, s.Pool, r.OrgID, func(b *pgx.Batch) {
		b.Queue(`SELECT c.id::text, c.document_id::text, c.text, c.heading, c.ordinal, d.path, d.kb
			FROM kb.chunks c JOIN kb.documents d ON d.id = c.document_id
			WHERE c.id = ANY($1::uuid[])`, order)
	}, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		byID := map[string]Passage{}
		for rows.Next() {
			var p Passage
			if err := rows.Scan(&p.ChunkID, &p.DocumentID, &p.Text, &p.Heading, &p.Ordinal, &p.Path, &p.KB); err != nil {
				rows.Close()
				return err
			}
			byID[p.ChunkID] = p
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range order {
			if p, ok := byID[id]; ok && len(out) < r.TopK {
				p.Score = fused[id] / top
				p.Similarity = sims[id]
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// Full-text candidates: chunks with all the query's words first, then
// those with any (a question rarely shares every word with its answer).
// Each tier ranks a bounded number of matches, so a query made of common
// words costs a bounded amount of work whatever the KB's size: rankCap
// for all words, rankCapAny for any (the looser tier's matches are many
// and each one ranked costs a heap read; see docs/benchmarks.md).
const (
	rankCap    = 1000
	rankCapAny = 200
)

// kbNames validates the requested knowledge bases; "<bot>.gbkb" (or none)
// means all of them.
func kbNames(bot string, kbs []string) ([]string, error) {
	var out []string
	for _, k := range kbs {
		if k == bot+".gbkb" {
			return nil, nil
		}
		k = strings.TrimPrefix(k, bot+".gbkb/")
		if err := store.CheckKB(k); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	if len(out) > 100 {
		return nil, fmt.Errorf("%w: at most 100 knowledge bases per search", ErrInvalid)
	}
	return out, nil
}

func unknown(names []string, cs []index.Collection) error {
	var missing []string
	for _, n := range names {
		if !slices.ContainsFunc(cs, func(c index.Collection) bool { return c.Name == n }) {
			missing = append(missing, n)
		}
	}
	return &UnknownKBError{Names: missing}
}
