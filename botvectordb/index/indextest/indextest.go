// Package indextest is the contract every index.Backend must meet. A
// backend's test calls Run with a harness; the same assertions run against
// the embedded backend, the Qdrant adapter (against an in-process server
// speaking Qdrant's gRPC API) and a real Qdrant when QDRANT_URL is set.
package indextest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botstate/embed"
	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
	"github.com/botserver-go/botserver-go/botvectordb/index"
	"github.com/botserver-go/botserver-go/botvectordb/migrations"
	"github.com/botserver-go/botserver-go/botvectordb/store"
	"github.com/jackc/pgx/v5"
)

// Harness is what the suite needs from a backend under test.
type Harness struct {
	Backend index.Backend
	// Replica, when set, opens a second backend on the same storage (another
	// process); the suite checks it sees the first one's writes.
	Replica func() index.Backend
	// Pool is a database with schema kb, where collections are created.
	Pool *pgxpool.Pool
}

// NewPool returns a fresh database migrated to schema kb.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, url := testutil.NewPool(t)
	if _, err := pg.Migrate(context.Background(), url, migrations.Schema); err != nil {
		t.Fatal(err)
	}
	return pool
}

// Collection creates (or finds) a collection row of org.
func Collection(t *testing.T, pool *pgxpool.Pool, org, bot, name string) index.Collection {
	t.Helper()
	var c index.Collection
	err := pg.InOrg(context.Background(), pool, org, func(tx pgx.Tx) error {
		var err error
		c, err = store.EnsureCollection(context.Background(), tx, org, bot, name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// vec is a deterministic unit vector for a seed.
func vec(dim int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, seed*7+1))
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	embed.Normalize(v)
	return v
}

// near is v nudged a little: its nearest neighbour is v.
func near(v []float32, seed uint64) []float32 {
	n := vec(len(v), seed)
	out := make([]float32, len(v))
	for i := range v {
		out[i] = v[i] + 0.05*n[i]
	}
	embed.Normalize(out)
	return out
}

func points(doc string, dim int, seeds ...uint64) []index.Point {
	out := make([]index.Point, len(seeds))
	for i, s := range seeds {
		out[i] = index.Point{ChunkID: chunkID(s), DocumentID: doc, Path: "bot.gbkb/kb/" + doc + ".md", Vector: vec(dim, s)}
	}
	return out
}

func chunkID(seed uint64) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "chunk-%d", seed)).String()
}

func ids(h []index.Hit) []string {
	out := make([]string, len(h))
	for i, x := range h {
		out[i] = x.ChunkID
	}
	return out
}

// Run runs the contract against the harness newHarness builds per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	const dim = 32
	ctx := context.Background()
	org, other := uuid.NewString(), uuid.NewString()
	doc1, doc2 := uuid.NewString(), uuid.NewString()

	t.Run("UpsertSearchReplaceDelete", func(t *testing.T) {
		h := newHarness(t)
		b := h.Backend
		c := Collection(t, h.Pool, org, "bot", "docs")
		if hits, err := b.Search(ctx, []index.Collection{c}, vec(dim, 1), 5); err != nil || len(hits) != 0 {
			t.Fatalf("empty collection: %v %v", hits, err)
		}
		if err := b.Upsert(ctx, c, append(points(doc1, dim, 1, 2, 3), points(doc2, dim, 4, 5)...)); err != nil {
			t.Fatal(err)
		}
		hits, err := b.Search(ctx, []index.Collection{c}, near(vec(dim, 2), 99), 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 3 || hits[0].ChunkID != chunkID(2) || hits[0].CollectionID != c.ID || hits[0].Score < 0.9 {
			t.Fatalf("nearest to point 2: %+v", hits)
		}
		for i := 1; i < len(hits); i++ {
			if hits[i].Score > hits[i-1].Score {
				t.Fatalf("not best first: %+v", hits)
			}
		}
		// Upsert is idempotent: the same points again do not duplicate.
		if err := b.Upsert(ctx, c, points(doc1, dim, 1, 2, 3)); err != nil {
			t.Fatal(err)
		}
		hits, _ = b.Search(ctx, []index.Collection{c}, vec(dim, 2), 10)
		if len(hits) != 5 {
			t.Fatalf("after re-upsert: %d hits, want 5: %v", len(hits), ids(hits))
		}
		// Deleting a document removes its points only.
		if err := b.DeleteDocument(ctx, c, doc1); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteDocument(ctx, c, doc1); err != nil { // idempotent
			t.Fatal(err)
		}
		hits, _ = b.Search(ctx, []index.Collection{c}, vec(dim, 2), 10)
		if len(hits) != 2 || (hits[0].ChunkID != chunkID(4) && hits[0].ChunkID != chunkID(5)) {
			t.Fatalf("after deleting doc1: %v", ids(hits))
		}
		if err := b.DeleteCollection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if hits, _ := b.Search(ctx, []index.Collection{c}, vec(dim, 4), 10); len(hits) != 0 {
			t.Fatalf("after deleting the collection: %v", ids(hits))
		}
	})

	t.Run("CollectionsAreSeparate", func(t *testing.T) {
		h := newHarness(t)
		b := h.Backend
		a := Collection(t, h.Pool, org, "bot", "a")
		bb := Collection(t, h.Pool, org, "bot", "b")
		x := Collection(t, h.Pool, other, "bot", "a") // same names, other org
		must(t, b.Upsert(ctx, a, points(doc1, dim, 10, 11)))
		must(t, b.Upsert(ctx, bb, points(doc2, dim, 20, 21)))
		must(t, b.Upsert(ctx, x, points(uuid.NewString(), dim, 30)))
		hits, err := b.Search(ctx, []index.Collection{a}, vec(dim, 20), 10)
		must(t, err)
		if len(hits) != 2 || hits[0].CollectionID != a.ID || hits[1].CollectionID != a.ID {
			t.Fatalf("search of a: %+v", hits)
		}
		hits, err = b.Search(ctx, []index.Collection{a, bb}, vec(dim, 20), 3)
		must(t, err)
		if len(hits) != 3 || hits[0].ChunkID != chunkID(20) || hits[0].CollectionID != bb.ID {
			t.Fatalf("search of a+b: %+v", hits)
		}
		for _, hh := range hits {
			if hh.ChunkID == chunkID(30) {
				t.Fatal("another org's point found")
			}
		}
	})

	t.Run("DimensionsMustMatch", func(t *testing.T) {
		h := newHarness(t)
		c := Collection(t, h.Pool, org, "bot", "dims")
		must(t, h.Backend.Upsert(ctx, c, points(doc1, dim, 1)))
		err := h.Backend.Upsert(ctx, c, points(doc2, dim*2, 2))
		if !errors.Is(err, index.ErrDimensions) {
			t.Fatalf("upsert of another size: %v", err)
		}
		if _, err := h.Backend.Search(ctx, []index.Collection{c}, vec(dim*2, 1), 3); err == nil {
			t.Fatal("search with another size accepted")
		}
	})

	t.Run("ReplicaSeesWrites", func(t *testing.T) {
		h := newHarness(t)
		if h.Replica == nil {
			t.Skip("backend has no replica notion")
		}
		c := Collection(t, h.Pool, org, "bot", "shared")
		must(t, h.Backend.Upsert(ctx, c, points(doc1, dim, 1, 2)))
		r := h.Replica()
		defer r.Close()
		hits, err := r.Search(ctx, []index.Collection{c}, vec(dim, 1), 5)
		if err != nil || len(hits) != 2 {
			t.Fatalf("replica's first search: %v %v", ids(hits), err)
		}
		must(t, h.Backend.Upsert(ctx, c, points(doc2, dim, 3)))
		must(t, h.Backend.DeleteDocument(ctx, c, doc1))
		eventually(t, func() bool {
			hits, err := r.Search(ctx, []index.Collection{c}, vec(dim, 3), 5)
			return err == nil && len(hits) == 1 && hits[0].ChunkID == chunkID(3)
		})
	})

	t.Run("ApproximateSearchFindsNeighbours", func(t *testing.T) {
		h := newHarness(t)
		c := Collection(t, h.Pool, org, "bot", "big")
		const n = 6000 // past the embedded backend's exact-search size
		var all []index.Point
		for i := 0; i < n; i += 500 {
			batch := points(uuid.NewString(), dim, seq(uint64(1000+i), 500)...)
			must(t, h.Backend.Upsert(ctx, c, batch))
			all = append(all, batch...)
		}
		found := 0
		for i := 0; i < 100; i++ {
			p := all[(i*61)%n]
			hits, err := h.Backend.Search(ctx, []index.Collection{c}, near(p.Vector, uint64(i)), 5)
			must(t, err)
			if len(hits) > 0 && hits[0].ChunkID == p.ChunkID {
				found++
			}
		}
		if found < 95 {
			t.Fatalf("nearest neighbour found for %d of 100 queries", found)
		}
	})
}

func seq(from uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = from + uint64(i)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
