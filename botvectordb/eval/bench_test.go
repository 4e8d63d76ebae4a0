package eval_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botvectordb/eval"
	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/index/indextest"
	"github.com/botserver-go/botserver-go/botvectordb/ingest"
	"github.com/botserver-go/botserver-go/botvectordb/retrieve"
	"github.com/botserver-go/botserver-go/botvectordb/store"
)

// vocabulary is a synthetic language with a Zipf-like word distribution,
// so full-text and vectors see realistic skew. As in English, its most
// frequent words are function words (real English ones, which the
// 'english' text search configuration drops, as it would in real text).
type vocabulary struct {
	words []string
	zipf  *rand.Zipf
	r     *rand.Rand
}

func newVocabulary(seed uint64) *vocabulary {
	r := rand.New(rand.NewPCG(seed, 7))
	syll := []string{"ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "da", "gu", "ri", "mo", "te", "za", "ple", "stra", "con"}
	words := make([]string, 20000)
	stop := strings.Fields("the of and to a in is it you that he was for on are with as his they be at one have this from or had by but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more go see no way could my than first been call who its now find long down did get come made may part")
	copy(words, stop)
	for i := len(stop); i < len(words); i++ {
		var b strings.Builder
		for j := 0; j < 2+r.IntN(3); j++ {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		words[i] = b.String()
	}
	return &vocabulary{words: words, zipf: rand.NewZipf(r, 1.1, 2, uint64(len(words)-1)), r: r}
}

func (v *vocabulary) text(words int) string {
	var b strings.Builder
	for i := 0; i < words; i++ {
		if i > 0 {
			if i%12 == 0 {
				b.WriteString(". ")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(v.words[v.zipf.Uint64()])
		if i%150 == 149 {
			b.WriteString(".\n\n")
		}
	}
	return b.String()
}

// BenchmarkIngestThroughput measures the whole pipeline with the local
// embedder and the embedded backend: event hand-off, extraction (from
// memory), chunking, embedding, vector and chunk writes, with 2 workers.
// Goal: at least 20 MB of text per minute on 2 cores.
func BenchmarkIngestThroughput(b *testing.B) {
	ctx := context.Background()
	pool := indextest.NewPool(b)
	idx := index.NewEmbedded(pool, index.EmbeddedOptions{})
	voc := newVocabulary(1)
	var total int64
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		docs := eval.MapExtractor{}
		for d := 0; d < 20; d++ {
			t := voc.text(15000) // ~100 KB
			docs[fmt.Sprintf("bench.gbkb/kb%d/doc%d.md", i, d)] = t
			total += int64(len(t))
		}
		in, err := ingest.New(ingest.Options{Pool: pool, Index: idx, Embedder: embed.NewLocal(0), Extractor: docs,
			Workers: 2, PollInterval: 5 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := eval.Queue(ctx, pool, in, uuid.NewString(), "bench", docs); err != nil {
			b.Fatal(err)
		}
		if err := in.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if err := eval.WaitSettled(ctx, pool, 10*time.Minute); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		_ = in.Stop(ctx)
	}
	var failed int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM kb.documents WHERE status = 'failed'`).Scan(&failed)
	if failed > 0 {
		b.Fatalf("%d documents failed", failed)
	}
	b.ReportMetric(float64(total)/1e6/elapsed.Minutes(), "MB/min")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSearch measures hybrid and vector-only search latency over one
// knowledge base of 10k and 100k chunks (~60 words each) in the embedded
// backend. Goal: p99 <= 20 ms.
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("chunks=%dk", n/1000), func(b *testing.B) {
			ctx := context.Background()
			pool := indextest.NewPool(b)
			e := embed.NewLocal(0)
			idx := index.NewEmbedded(pool, index.EmbeddedOptions{})
			org := uuid.NewString()
			c := load(b, ctx, pool, idx, e, org, n)
			start := time.Now()
			if err := idx.Refresh(ctx, c); err != nil {
				b.Fatal(err)
			}
			loaded := time.Since(start)
			s := &retrieve.Searcher{Pool: pool, Index: idx, Embedder: e}
			voc := newVocabulary(99)
			// The graph builds in the background; searches meanwhile are
			// exact scans. Time some while it runs.
			var during []time.Duration
			for len(during) < 20 {
				v, err := e.Embed(ctx, []string{voc.text(4)})
				if err != nil {
					b.Fatal(err)
				}
				t := time.Now()
				if _, err := idx.Search(ctx, []index.Collection{c}, v[0], 40); err != nil {
					b.Fatal(err)
				}
				during = append(during, time.Since(t))
			}
			took, err := idx.WaitIndexed(ctx, c)
			if err != nil {
				b.Fatal(err)
			}
			slices.Sort(during)
			b.Logf("%d chunks: loaded in %s, graph built in %s (%s in all); vector searches during the build: p50 %s, max %s",
				n, loaded.Round(time.Millisecond), took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
				during[len(during)/2].Round(10*time.Microsecond), during[len(during)-1].Round(10*time.Microsecond))
			for _, mode := range []struct {
				name string
				m    retrieve.Mode
			}{{"hybrid", retrieve.Hybrid}, {"vector", retrieve.Vector}, {"text", retrieve.Text}} {
				b.Run(mode.name, func(b *testing.B) {
					var lat []time.Duration
					for b.Loop() {
						q := voc.text(3 + len(lat)%4)
						t := time.Now()
						if _, err := s.Search(ctx, retrieve.Request{OrgID: org, Bot: "bench", Query: q, TopK: 5, Mode: mode.m}); err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(t))
					}
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				})
			}
		})
	}
}

// load writes n synthetic chunks (rows and vectors) into one knowledge
// base, in bulk.
func load(b testing.TB, ctx context.Context, pool *pgxpool.Pool, idx *index.Embedded, e embed.Embedder, org string, n int) index.Collection {
	b.Helper()
	voc := newVocabulary(42)
	var c index.Collection
	err := pg.InOrg(ctx, pool, org, func(tx pgx.Tx) error {
		var err error
		c, err = store.EnsureCollection(ctx, tx, org, "bench", "kb")
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	const perDoc = 1000
	for d := 0; d*perDoc < n; d++ {
		docID := uuid.NewString()
		texts := make([]string, perDoc)
		ids := make([]string, perDoc)
		ords := make([]int32, perDoc)
		heads := make([]string, perDoc)
		points := make([]index.Point, perDoc)
		for i := range texts {
			texts[i] = voc.text(60)
			ids[i] = uuid.NewString()
			ords[i] = int32(i)
		}
		vecs, err := e.Embed(ctx, texts)
		if err != nil {
			b.Fatal(err)
		}
		for i := range points {
			points[i] = index.Point{ChunkID: ids[i], DocumentID: docID, Vector: vecs[i]}
		}
		err = pg.InOrg(ctx, pool, org, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO kb.documents (id, org_id, collection_id, bot, kb, path, hash, status, chunks)
				VALUES ($1, $2, $3, 'bench', 'kb', $4, 'x', 'indexed', $5)`, docID, org, c.ID, fmt.Sprintf("bench.gbkb/kb/%d.md", d), perDoc); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO kb.chunks (id, org_id, collection_id, document_id, ordinal, heading, text)
				SELECT u.id, $1, $2, $3, u.ordinal, u.heading, u.text
				FROM unnest($4::uuid[], $5::int[], $6::text[], $7::text[]) AS u (id, ordinal, heading, text)`,
				org, c.ID, docID, ids, ords, heads, texts)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := idx.Upsert(ctx, c, points); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE kb.chunks`); err != nil {
		b.Fatal(err)
	}
	return c
}
