package index

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/botserver-go/botserver-go/botstate/embed"
)

// testVectors embeds n synthetic passages (Zipf-distributed words, as in
// the eval benchmarks) with the local embedder.
func testVectors(tb testing.TB, n int, seed uint64) [][]float32 {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	syll := []string{"ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "da", "gu", "ri", "mo", "te", "za"}
	words := make([]string, 20000)
	for i := range words {
		var b strings.Builder
		for j := 0; j < 2+r.IntN(3); j++ {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		words[i] = b.String()
	}
	z := rand.NewZipf(r, 1.1, 2, uint64(len(words)-1))
	texts := make([]string, n)
	for i := range texts {
		var b strings.Builder
		for j := 0; j < 60; j++ {
			b.WriteString(words[z.Uint64()])
			b.WriteByte(' ')
		}
		texts[i] = b.String()
	}
	vecs, err := embed.NewLocal(0).Embed(context.Background(), texts)
	if err != nil {
		tb.Fatal(err)
	}
	return vecs
}

func benchN(def int) int {
	if n, err := strconv.Atoi(os.Getenv("HNSW_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkGraphBuild builds the graph over n vectors (HNSW_BENCH_N,
// default 20000) and reports recall@10 of searches against an exact scan.
func BenchmarkGraphBuild(b *testing.B) {
	n := benchN(20000)
	vecs := testVectors(b, n, 1)
	queries := testVectors(b, 200, 2)
	for b.Loop() {
		m := newTestIndex()
		start := time.Now()
		for i, v := range vecs {
			m.add([]Point{{ChunkID: fmt.Sprint(i), Vector: v}})
		}
		m.buildNow()
		b.ReportMetric(time.Since(start).Seconds(), "build-s")
		b.ReportMetric(recallAt10(m, queries), "recall@10")
	}
}

func recallAt10(m *memIndex, queries [][]float32) float64 {
	found, total := 0, 0
	for _, q := range queries {
		exact := m.exact(q, 10)
		got, _ := m.search("o", q, 10)
		in := map[string]bool{}
		for _, h := range got {
			in[h.ChunkID] = true
		}
		for _, h := range exact {
			total++
			if in[h.ChunkID] {
				found++
			}
		}
	}
	return float64(found) / float64(total)
}

func newTestIndex() *memIndex {
	return &memIndex{opt: EmbeddedOptions{M: 16, EfBuild: 100, EfSearch: 64, ExactBelow: 1, Log: slog.Default()}, byChunk: map[string]uint32{}, org: "o"}
}

// buildNow builds the graph and waits for it.
func (m *memIndex) buildNow() {
	m.mu.Lock()
	m.startBuild()
	m.mu.Unlock()
	_ = m.wait(context.Background())
}

// TestBackgroundBuild: writes made while a graph is built are replayed onto
// it, and searches meanwhile are exact.
func TestBackgroundBuild(t *testing.T) {
	vecs := testVectors(t, 3000, 1)
	extra := testVectors(t, 50, 3)
	m := newTestIndex()
	for i, v := range vecs {
		m.add([]Point{{ChunkID: fmt.Sprint(i), Vector: v}})
	}
	m.mu.Lock()
	m.startBuild()
	// While it builds: drop the first 100, add 50, replace one.
	for i := 0; i < 100; i++ {
		m.remove([]string{fmt.Sprint(i)})
	}
	for i, v := range extra {
		m.add([]Point{{ChunkID: fmt.Sprint("x", i), Vector: v}})
	}
	m.add([]Point{{ChunkID: "500", Vector: extra[0]}})
	m.mu.Unlock()
	if h, _ := m.search("o", vecs[200], 1); len(h) != 1 || h[0].ChunkID != "200" {
		t.Fatalf("search during build: %v", h)
	}
	if err := m.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.mu.RLock()
	g, live, ndead, building := m.graph, m.live, m.ndead, m.building
	m.mu.RUnlock()
	if g == nil || building || live != 3000-100+50 || ndead != 101 { // the snapshot had them
		t.Fatalf("after build: graph %v, building %v, live %d, dead %d", g != nil, building, live, ndead)
	}
	for i := 0; i < 100; i += 7 {
		if h, _ := m.search("o", vecs[i], 1); len(h) == 1 && h[0].ChunkID == fmt.Sprint(i) {
			t.Fatalf("removed chunk %d still found", i)
		}
	}
	for i, v := range extra {
		h, _ := m.search("o", v, 2)
		if len(h) == 0 || (h[0].ChunkID != fmt.Sprint("x", i) && !(i == 0 && h[0].ChunkID == "500")) {
			t.Fatalf("added chunk x%d not found: %v", i, h)
		}
	}
	if m.lastBuild <= 0 {
		t.Fatal("build time not recorded")
	}
}

// TestApplyLinksAlongsideSearches: writes into an index with a graph link
// node by node while searches run, and every new node is then found.
func TestApplyLinksAlongsideSearches(t *testing.T) {
	vecs := testVectors(t, 2500, 1)
	extra := testVectors(t, 300, 5)
	m := newTestIndex()
	m.loaded = true
	for i, v := range vecs {
		m.add([]Point{{ChunkID: fmt.Sprint(i), Vector: v}})
	}
	m.buildNow()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := m.search("o", vecs[i%len(vecs)], 5); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var adds []Point
	for i, v := range extra {
		adds = append(adds, Point{ChunkID: fmt.Sprint("x", i), Vector: v})
	}
	m.apply(adds, []string{"1", "2"}, 1)
	close(stop)
	<-done
	if m.graph == nil || m.version != 1 || m.live != 2500-2+300 {
		t.Fatalf("graph %v, version %d, live %d", m.graph != nil, m.version, m.live)
	}
	missed := 0
	for i, v := range extra {
		if h, _ := m.search("o", v, 1); len(h) == 0 || h[0].ChunkID != fmt.Sprint("x", i) {
			missed++
		}
	}
	if missed > 3 {
		t.Fatalf("%d of %d new nodes not found", missed, len(extra))
	}
}
