package index

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botstate/pg"
)

// EmbeddedOptions tune the embedded backend.
type EmbeddedOptions struct {
	// Collections with fewer live vectors than this are searched exactly
	// (a scan is as fast as a graph walk there). Default 4096.
	ExactBelow int
	// HNSW parameters: links per node (default 16), candidate list size
	// while building (default 100) and searching (default 64).
	M, EfBuild, EfSearch int
	Log                  *slog.Logger
}

// Embedded keeps vectors in kb.embeddings and searches an in-memory HNSW
// graph per collection, built from Postgres on first use (or by Warm at
// start) and kept current: writes through this process apply at once,
// writes by other replicas are noticed through kb.collections.vec_version
// and applied in the background. Deleted vectors stay in the graph as
// tombstones (filtered out) until a rebuild compacts it.
type Embedded struct {
	pool *pgxpool.Pool
	opt  EmbeddedOptions

	mu    sync.Mutex
	colls map[string]*memIndex
	// One graph build at a time per process (each takes a core; Warm
	// starts one per collection).
	builds chan struct{}
}

// NewEmbedded returns the embedded backend on a pool whose database has
// schema kb.
func NewEmbedded(pool *pgxpool.Pool, opt EmbeddedOptions) *Embedded {
	if opt.ExactBelow <= 0 {
		opt.ExactBelow = 4096
	}
	if opt.M <= 0 {
		opt.M = 16
	}
	if opt.EfSearch <= 0 {
		opt.EfSearch = 64
	}
	if opt.EfBuild <= 0 {
		opt.EfBuild = 100
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Embedded{pool: pool, opt: opt, colls: map[string]*memIndex{}, builds: make(chan struct{}, 1)}
}

// Name implements Backend.
func (e *Embedded) Name() string { return "embedded" }

// Close implements Backend; the pool belongs to the caller.
func (e *Embedded) Close() error {
	e.mu.Lock()
	colls := e.colls
	e.colls = map[string]*memIndex{}
	e.mu.Unlock()
	for _, m := range colls {
		m.mu.Lock()
		m.gen.Add(1) // stops a build in progress
		m.stopBuilding()
		m.mu.Unlock()
	}
	return nil
}

func (e *Embedded) index(id string) *memIndex {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.colls[id]
	if m == nil {
		m = &memIndex{opt: e.opt, byChunk: map[string]uint32{}, builds: e.builds}
		e.colls[id] = m
	}
	return m
}

// Upsert implements Backend: one COPY for the batch.
func (e *Embedded) Upsert(ctx context.Context, c Collection, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	dim := len(points[0].Vector)
	// Columns as arrays: one INSERT ... SELECT FROM unnest(...) per batch.
	// (COPY would be faster still, but Postgres refuses COPY FROM into
	// tables with row-level security.)
	chunkIDs := make([]uuid.UUID, len(points))
	docIDs := make([]uuid.UUID, len(points))
	vectors := make([][]byte, len(points))
	for i, p := range points {
		cid, err1 := uuid.Parse(p.ChunkID)
		did, err2 := uuid.Parse(p.DocumentID)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("embedded index: point %d: chunk and document ids must be uuids", i)
		}
		if len(p.Vector) != dim || dim == 0 {
			return fmt.Errorf("embedded index: point %d: %w (%d, batch has %d)", i, ErrDimensions, len(p.Vector), dim)
		}
		chunkIDs[i], docIDs[i], vectors[i] = cid, did, encodeVector(p.Vector)
	}
	m := e.index(c.ID)
	var version int64
	err := pg.InOrg(ctx, e.pool, c.OrgID, func(tx pgx.Tx) error {
		// The first vectors fix the collection's size; the row lock also
		// orders concurrent writers of one collection.
		var have int
		if err := tx.QueryRow(ctx, `UPDATE kb.collections SET vec_version = vec_version + 1, updated_at = now(),
				vec_dim = CASE WHEN vec_dim = 0 THEN $2 ELSE vec_dim END
			WHERE id = $1 RETURNING vec_version, vec_dim`, c.ID, dim).Scan(&version, &have); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("embedded index: collection %s not found", c.ID)
			}
			return err
		}
		if have != dim {
			return fmt.Errorf("embedded index: %w (%d, collection has %d)", ErrDimensions, dim, have)
		}
		_, err := tx.Exec(ctx, `INSERT INTO kb.embeddings (chunk_id, org_id, collection_id, document_id, vector)
			SELECT u.chunk_id, $1, $2, u.document_id, u.vector
			FROM unnest($3::uuid[], $4::uuid[], $5::bytea[]) AS u (chunk_id, document_id, vector)
			ON CONFLICT (chunk_id) DO UPDATE SET document_id = excluded.document_id, vector = excluded.vector`,
			c.OrgID, c.ID, chunkIDs, docIDs, vectors)
		return err
	})
	if err != nil {
		return err
	}
	m.apply(points, nil, version)
	return nil
}

// DeleteDocument implements Backend.
func (e *Embedded) DeleteDocument(ctx context.Context, c Collection, documentID string) error {
	did, err := uuid.Parse(documentID)
	if err != nil {
		return errors.New("embedded index: document id must be a uuid")
	}
	return e.delete(ctx, c, `DELETE FROM kb.embeddings WHERE collection_id = $1 AND document_id = $2 RETURNING chunk_id::text`, did)
}

// DeleteCollection implements Backend.
func (e *Embedded) DeleteCollection(ctx context.Context, c Collection) error {
	err := e.delete(ctx, c, `DELETE FROM kb.embeddings WHERE collection_id = $1 RETURNING chunk_id::text`)
	if err != nil {
		return err
	}
	// Empty now: the next vectors may have another size (a new model).
	return pg.InOrg(ctx, e.pool, c.OrgID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE kb.collections SET vec_dim = 0 WHERE id = $1
			AND NOT EXISTS (SELECT 1 FROM kb.embeddings WHERE collection_id = $1)`, c.ID)
		return err
	})
}

func (e *Embedded) delete(ctx context.Context, c Collection, q string, args ...any) error {
	var gone []string
	var version int64
	err := pg.InOrg(ctx, e.pool, c.OrgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, append([]any{c.ID}, args...)...)
		if err != nil {
			return err
		}
		gone, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(gone) == 0 {
			return err
		}
		err = tx.QueryRow(ctx, `UPDATE kb.collections SET vec_version = vec_version + 1, updated_at = now()
			WHERE id = $1 RETURNING vec_version`, c.ID).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the collection itself is gone
		}
		return err
	})
	if err != nil || len(gone) == 0 {
		return err
	}
	e.index(c.ID).apply(nil, gone, version)
	return nil
}

// Search implements Backend. A collection not yet in memory is loaded
// first; one changed by another replica is searched as it is and refreshed
// in the background (the caller checks hits against Postgres anyway).
func (e *Embedded) Search(ctx context.Context, cs []Collection, vector []float32, limit int) ([]Hit, error) {
	if len(cs) == 0 || limit <= 0 {
		return nil, nil
	}
	org := cs[0].OrgID
	ids := make([]string, len(cs))
	for i, c := range cs {
		if c.OrgID != org {
			return nil, errors.New("embedded index: one search spans one organisation")
		}
		ids[i] = c.ID
	}
	versions := map[string]int64{}
	known := true
	for _, c := range cs {
		known = known && c.VecVersion > 0
		versions[c.ID] = c.VecVersion
	}
	if !known {
		if err := e.versions(ctx, org, ids, versions); err != nil {
			return nil, err
		}
	}
	var hits []Hit
	for _, c := range cs {
		v, ok := versions[c.ID]
		if !ok || v == 0 {
			continue // no such collection in this org, or never had vectors
		}
		m := e.index(c.ID)
		if !m.isLoaded() {
			if err := m.refresh(ctx, e.pool, c); err != nil {
				return nil, err
			}
		} else if m.stale(v) && m.refreshing.CompareAndSwap(false, true) {
			go func() {
				defer m.refreshing.Store(false)
				rctx := context.WithoutCancel(ctx)
				if err := m.refresh(rctx, e.pool, c); err != nil {
					e.opt.Log.Warn("embedded index refresh failed", "collection", c.ID, "err", err)
				}
			}()
		}
		h, err := m.search(org, vector, limit)
		if err != nil {
			return nil, fmt.Errorf("knowledge base %s: %w", c.Name, err)
		}
		for i := range h {
			h[i].CollectionID = c.ID
		}
		hits = append(hits, h...)
	}
	SortHits(hits)
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

// versions reads the vector versions of collections ids visible in org.
func (e *Embedded) versions(ctx context.Context, org string, ids []string, versions map[string]int64) error {
	clear(versions)
	return pg.InOrg(ctx, e.pool, org, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, vec_version FROM kb.collections WHERE id = ANY($1::uuid[])`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var v int64
			if err := rows.Scan(&id, &v); err != nil {
				return err
			}
			versions[id] = v
		}
		return rows.Err()
	})
}

// Refresh brings the in-memory index of c up to date with Postgres now
// (Search does it lazily).
func (e *Embedded) Refresh(ctx context.Context, c Collection) error {
	return e.index(c.ID).refresh(ctx, e.pool, c)
}

// WaitIndexed returns once no graph build of c is in progress, and the
// duration of the last one (0 if none was needed). Searches never wait for
// builds (they scan exactly, or use the previous graph, meanwhile); this is
// for tests and benchmarks.
func (e *Embedded) WaitIndexed(ctx context.Context, c Collection) (time.Duration, error) {
	m := e.index(c.ID)
	if err := m.wait(ctx); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.lastBuild, nil
}

// Warm loads every collection that has vectors, across organisations: the
// "rebuilt on start" step, run in the background so start-up is not held.
// It reads kb.collections as the schema owner, outside tenant scope, and
// only to enumerate ids; each load runs in its org.
func (e *Embedded) Warm(ctx context.Context) error {
	rows, err := e.pool.Query(ctx, `SELECT id::text, org_id::text, bot, name FROM kb.collections WHERE vec_version > 0`)
	if err != nil {
		return err
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Collection, error) {
		var c Collection
		return c, r.Scan(&c.ID, &c.OrgID, &c.Bot, &c.Name)
	})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := e.Refresh(ctx, c); err != nil {
			return fmt.Errorf("warm %s/%s: %w", c.Bot, c.Name, err)
		}
	}
	return nil
}

// SortHits orders hits best first (ties by chunk id, for stable results).
func SortHits(h []Hit) {
	slices.SortFunc(h, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ChunkID, b.ChunkID)
	})
}

// memIndex is one collection's vectors in memory. Internal ids index keys,
// vecs and dead; they are never reused (a replaced chunk gets a new id), so
// the graph never needs to unlink a node.
//
// The graph is (re)built in the background, never under the lock searches
// take: over a snapshot of the live vectors, compacted. Meanwhile searches
// use the previous graph, or an exact scan when there is none, and writes
// apply to the current state and are logged; the finished graph is swapped
// in with the log replayed on top.
type memIndex struct {
	opt        EmbeddedOptions
	loadMu     sync.Mutex // serialises refreshes and applies
	refreshing atomic.Bool

	mu      sync.RWMutex
	loaded  bool
	org     string // the org the collection's row was read in ("" until then)
	version int64
	dim     int
	keys    []string
	vecs    [][]float32
	dead    []bool
	byChunk map[string]uint32
	live    int
	ndead   int
	graph   *graph

	// A background build in progress: the writes since its snapshot, and a
	// channel closed when it is done. gen changes when the index is reset
	// or dropped, so a build started before is thrown away.
	building  bool
	pending   []pendingOp
	buildDone chan struct{}
	builds    chan struct{} // shared by the process's indexes; nil: no limit
	gen       atomic.Uint64
	lastBuild time.Duration // duration of the last completed build
}

// pendingOp is a write made during a build: vec nil removes the chunk.
type pendingOp struct {
	id  string
	vec []float32
}

func (m *memIndex) isLoaded() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.loaded
}

func (m *memIndex) stale(v int64) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.version < v
}

// apply records a write this process committed as vector version v. When
// the index was exactly at v-1 it is now exactly at v; otherwise another
// replica wrote in between and the version stays behind, so the next
// search refreshes.
func (m *memIndex) apply(adds []Point, removes []string, v int64) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	m.mu.Lock()
	if !m.loaded {
		m.mu.Unlock()
		return // loaded from Postgres on first use, writes included
	}
	m.remove(removes)
	g, first := m.graph, len(m.keys)
	m.graph = nil // add must not link: that is done below, node by node
	m.add(adds)
	m.graph = g
	last := len(m.keys)
	m.mu.Unlock()
	// Link the new nodes into the graph one at a time, finding each one's
	// neighbours under the read lock (alongside searches) and holding the
	// write lock only to link it. Until then a new node is found by exact
	// scan only if there is no graph; Upsert returns once all are linked.
	for i := first; g != nil && i < last; i++ {
		m.mu.RLock()
		if m.graph != g {
			// A build swapped in a new graph (with other ids), made from
			// a snapshot that had these nodes or a log that replays them.
			m.mu.RUnlock()
			break
		}
		vec, dead := m.vecs[i], m.dead[i]
		var p insertPlan
		if !dead {
			p = g.plan(vec)
		}
		m.mu.RUnlock()
		if dead {
			continue
		}
		m.mu.Lock()
		if m.graph == g {
			g.link(uint32(i), vec, p)
		}
		m.mu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version == v-1 {
		m.version = v
	}
	m.maintain()
}

func (m *memIndex) remove(chunkIDs []string) {
	for _, id := range chunkIDs {
		if i, ok := m.byChunk[id]; ok {
			m.dead[i] = true
			m.vecs[i] = nil // the graph being built may still hold it
			delete(m.byChunk, id)
			m.live--
			m.ndead++
			if m.building {
				m.pending = append(m.pending, pendingOp{id: id})
			}
		}
	}
}

func (m *memIndex) add(points []Point) {
	for _, p := range points {
		if m.dim == 0 {
			m.dim = len(p.Vector)
		}
		if len(p.Vector) != m.dim {
			continue // refused by Upsert; a refresh across a model change rebuilds
		}
		m.remove([]string{p.ChunkID})
		i := uint32(len(m.keys))
		m.keys = append(m.keys, p.ChunkID)
		m.vecs = append(m.vecs, p.Vector)
		m.dead = append(m.dead, false)
		m.byChunk[p.ChunkID] = i
		m.live++
		if m.graph != nil {
			m.graph.insert(i, p.Vector)
		}
		if m.building {
			m.pending = append(m.pending, pendingOp{id: p.ChunkID, vec: p.Vector})
		}
	}
}

// reset empties the index (the model changed: vectors of another size).
func (m *memIndex) reset() {
	m.gen.Add(1) // a build in progress is for the old vectors
	m.keys, m.vecs, m.dead, m.graph = nil, nil, nil, nil
	m.byChunk = map[string]uint32{}
	m.live, m.ndead, m.dim = 0, 0, 0
	m.stopBuilding()
}

func (m *memIndex) stopBuilding() {
	if m.building {
		m.building, m.pending = false, nil
		close(m.buildDone)
		m.buildDone = nil
	}
}

// maintain starts a graph build once the collection is big enough for one,
// and a rebuild that compacts tombstones away once they are a quarter of
// the live vectors. Without a graph, compaction is immediate.
func (m *memIndex) maintain() {
	if m.building {
		return // the build's completion calls maintain again
	}
	switch {
	case m.ndead > 256 && m.ndead > m.live/4 && m.graph != nil:
		m.startBuild()
	case m.graph == nil && m.live >= m.opt.ExactBelow:
		m.startBuild()
	case m.graph != nil && m.live < m.opt.ExactBelow/2:
		m.graph = nil
	}
	if m.graph == nil && !m.building && m.ndead > 256 && m.ndead > m.live/4 {
		m.compact()
	}
}

// compact drops tombstones (there is no graph to renumber).
func (m *memIndex) compact() {
	keys, vecs := m.keys[:0:0], m.vecs[:0:0]
	for i, k := range m.keys {
		if !m.dead[i] {
			keys = append(keys, k)
			vecs = append(vecs, m.vecs[i])
		}
	}
	m.install(keys, vecs, nil, nil)
}

// install replaces the contents with keys and vecs (all live), searched
// through g (nil: exactly).
func (m *memIndex) install(keys []string, vecs [][]float32, byChunk map[string]uint32, g *graph) {
	if byChunk == nil {
		byChunk = make(map[string]uint32, len(keys))
		for i, k := range keys {
			byChunk[k] = uint32(i)
		}
	}
	m.keys, m.vecs, m.byChunk, m.graph = keys, vecs, byChunk, g
	m.dead = make([]bool, len(keys))
	m.live, m.ndead = len(keys), 0
}

// startBuild snapshots the live vectors and builds a graph over them in the
// background. Called with mu held for writing.
func (m *memIndex) startBuild() {
	keys := make([]string, 0, m.live)
	vecs := make([][]float32, 0, m.live)
	for i, k := range m.keys {
		if !m.dead[i] {
			keys = append(keys, k)
			vecs = append(vecs, m.vecs[i])
		}
	}
	m.building, m.pending, m.buildDone = true, nil, make(chan struct{})
	gen := m.gen.Load()
	go m.build(gen, keys, vecs)
}

func (m *memIndex) build(gen uint64, keys []string, vecs [][]float32) {
	if m.builds != nil {
		m.builds <- struct{}{}
		defer func() { <-m.builds }()
	}
	start := time.Now()
	g := newGraph(m.opt.M, m.opt.EfBuild)
	for i, v := range vecs {
		if i%1024 == 0 && m.gen.Load() != gen {
			return // reset or dropped: whoever did it closed buildDone
		}
		g.insert(uint32(i), v)
		// Let searches in: with two Ps, one marking for the GC and this
		// loop on the other, a search would otherwise wait for
		// preemption (10 ms slices) again and again.
		runtime.Gosched()
	}
	byChunk := make(map[string]uint32, len(keys))
	for i, k := range keys {
		byChunk[k] = uint32(i)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen.Load() != gen || !m.building {
		return
	}
	ops := m.pending
	done := m.buildDone
	m.building, m.pending, m.buildDone = false, nil, nil
	m.install(keys, vecs, byChunk, g)
	for _, op := range ops {
		if op.vec == nil {
			m.remove([]string{op.id})
		} else {
			m.add([]Point{{ChunkID: op.id, Vector: op.vec}})
		}
	}
	m.lastBuild = time.Since(start)
	m.opt.Log.Debug("embedded index built", "vectors", len(vecs), "replayed", len(ops), "took", m.lastBuild)
	m.maintain()
	close(done)
}

// wait returns once no build is in progress (or ctx ends).
func (m *memIndex) wait(ctx context.Context) error {
	for {
		m.mu.RLock()
		done := m.buildDone
		m.mu.RUnlock()
		if done == nil {
			return nil
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// search finds the nearest vectors, for a search in org: an index whose
// collection was not read in that org has nothing for it.
func (m *memIndex) search(org string, q []float32, limit int) ([]Hit, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.live == 0 || m.org != org {
		return nil, nil
	}
	if len(q) != m.dim {
		return nil, fmt.Errorf("%w (query has %d, index %d)", ErrDimensions, len(q), m.dim)
	}
	if m.graph == nil {
		return m.exact(q, limit), nil
	}
	// Ask for more than needed: tombstones are skipped.
	k := limit + m.ndead*limit/max(m.live, 1) + 1
	var hits []Hit
	for _, c := range m.graph.search(q, k, max(m.opt.EfSearch, 2*k)) {
		if !m.dead[c.id] {
			hits = append(hits, Hit{ChunkID: m.keys[c.id], Score: 1 - c.d})
		}
	}
	SortHits(hits)
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

// exact scans every live vector, keeping the best limit.
func (m *memIndex) exact(q []float32, limit int) []Hit {
	type scored struct {
		i uint32
		s float32
	}
	best := make([]scored, 0, limit+1) // best first
	for i, v := range m.vecs {
		if m.dead[i] {
			continue
		}
		s := dot(q, v)
		if len(best) == limit && s < best[limit-1].s {
			continue
		}
		j := len(best)
		best = append(best, scored{})
		for j > 0 && best[j-1].s < s {
			best[j] = best[j-1]
			j--
		}
		best[j] = scored{uint32(i), s}
		if len(best) > limit {
			best = best[:limit]
		}
	}
	hits := make([]Hit, len(best))
	for i, b := range best {
		hits[i] = Hit{ChunkID: m.keys[b.i], Score: b.s}
	}
	SortHits(hits) // ties by chunk id
	return hits
}

// refresh makes the index match Postgres: a full load the first time,
// afterwards only the difference (new vectors fetched, vanished ones
// tombstoned).
func (m *memIndex) refresh(ctx context.Context, pool *pgxpool.Pool, c Collection) error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	var version int64
	var present []string
	var found bool
	fetched := map[string][]float32{}
	m.mu.RLock()
	loaded := m.loaded
	m.mu.RUnlock()
	err := pg.InOrg(ctx, pool, c.OrgID, func(tx pgx.Tx) error {
		// The version first: anything committed after it is picked up by
		// the next refresh, never lost.
		if err := tx.QueryRow(ctx, `SELECT vec_version FROM kb.collections WHERE id = $1`, c.ID).Scan(&version); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		found = true
		var missing []string
		if loaded {
			rows, err := tx.Query(ctx, `SELECT chunk_id::text FROM kb.embeddings WHERE collection_id = $1`, c.ID)
			if err != nil {
				return err
			}
			if present, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			m.mu.RLock()
			for _, id := range present {
				if _, ok := m.byChunk[id]; !ok {
					missing = append(missing, id)
				}
			}
			m.mu.RUnlock()
			if len(missing) == 0 {
				return nil
			}
		}
		q := `SELECT chunk_id::text, vector FROM kb.embeddings WHERE collection_id = $1`
		args := []any{c.ID}
		if loaded {
			q += ` AND chunk_id = ANY($2::uuid[])`
			args = append(args, missing)
		}
		// In id order, which is the order of the internal ids: decoded
		// into contiguous blocks, an exact scan (the search while a graph
		// builds) then reads memory sequentially.
		rows, err := tx.Query(ctx, q+` ORDER BY chunk_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var block []float32
		for rows.Next() {
			var id string
			var raw []byte
			if err := rows.Scan(&id, &raw); err != nil {
				return err
			}
			n := len(raw) / 4
			if len(block) < n {
				block = make([]float32, n*vectorBlock)
			}
			v := block[:n:n]
			block = block[n:]
			decodeVectorInto(v, raw)
			fetched[id] = v
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	if !found {
		// Not a collection of this org (or not any more): leave the index
		// as it is; Search skips collections the org cannot see.
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.org = c.OrgID
	if !loaded {
		present = make([]string, 0, len(fetched))
		for id := range fetched {
			present = append(present, id)
		}
		slices.Sort(present) // deterministic internal ids
	}
	keep := make(map[string]bool, len(present))
	for _, id := range present {
		keep[id] = true
	}
	var gone []string
	for id := range m.byChunk {
		if !keep[id] {
			gone = append(gone, id)
		}
	}
	m.remove(gone)
	adds := make([]Point, 0, len(fetched))
	dim := 0
	for _, id := range present {
		if v, ok := fetched[id]; ok {
			if dim == 0 {
				dim = len(v)
			}
			adds = append(adds, Point{ChunkID: id, Vector: v})
		}
	}
	if dim != 0 && m.dim != 0 && dim != m.dim {
		// The model changed under us: start over with the new size.
		m.reset()
	}
	m.add(adds)
	m.loaded = true
	if version > m.version {
		m.version = version
	}
	m.maintain()
	return nil
}

func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// vectorBlock is how many vectors a load decodes into one allocation.
const vectorBlock = 1024

func decodeVectorInto(v []float32, b []byte) {
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}
