package index

import (
	"math"
	"math/rand/v2"
	"sync"
)

// graph is a Hierarchical Navigable Small World index (Malkov & Yashunin,
// 2016) over normalised vectors, distance 1 - dot. Nodes are internal ids;
// the graph keeps its own slice of the (immutable) vectors it links, so it
// can be built apart from the index that will use it. It is not safe for
// concurrent inserts; searches may run concurrently with each other (the
// owner's RWMutex orders them against inserts).
type graph struct {
	vecs     [][]float32
	m, m0    int // links per node above level 0, and at level 0
	efBuild  int
	ml       float64
	links    [][][]uint32 // links[node][level]
	entry    uint32
	maxLevel int
	empty    bool
	rng      *rand.Rand
	visited  sync.Pool // *visitSet
}

func newGraph(m, efBuild int) *graph {
	return &graph{m: m, m0: 2 * m, efBuild: efBuild, ml: 1 / math.Log(float64(m)),
		empty: true, rng: rand.New(rand.NewPCG(1, 2))}
}

func (g *graph) dist(q []float32, id uint32) float32 { return 1 - dot(q, g.vecs[id]) }

// insert links node id, of vector v, into the graph.
func (g *graph) insert(id uint32, v []float32) { g.link(id, v, g.plan(v)) }

// insertPlan is where a new node goes: its level, and its neighbours at
// each level it shares with the graph.
type insertPlan struct {
	level int
	nbs   [][]cand // by level
}

// plan finds a new node's neighbours. It only reads the graph, so it may
// run alongside searches (under the owner's read lock); the link that
// follows must see the graph as plan saw it (one inserter at a time).
func (g *graph) plan(v []float32) insertPlan {
	p := insertPlan{level: int(-math.Log(1-g.rng.Float64()) * g.ml)}
	if g.empty {
		return p
	}
	ep := []cand{{g.entry, g.dist(v, g.entry)}}
	for l := g.maxLevel; l > p.level; l-- {
		ep = g.searchLayer(v, ep, 1, l)
	}
	top := min(p.level, g.maxLevel)
	p.nbs = make([][]cand, top+1)
	for l := top; l >= 0; l-- {
		w := g.searchLayer(v, ep, g.efBuild, l)
		p.nbs[l] = g.selectNeighbours(w, g.m)
		ep = w
	}
	return p
}

// link adds node id as planned: its links, and the reverse links (under
// the owner's write lock).
func (g *graph) link(id uint32, v []float32, p insertPlan) {
	for int(id) >= len(g.links) {
		g.links = append(g.links, nil)
		g.vecs = append(g.vecs, nil)
	}
	g.vecs[id] = v
	g.links[id] = make([][]uint32, p.level+1)
	if g.empty {
		g.entry, g.maxLevel, g.empty = id, p.level, false
		return
	}
	for l, nb := range p.nbs {
		maxLinks := g.m
		if l == 0 {
			maxLinks = g.m0
		}
		g.links[id][l] = ids(nb)
		for _, n := range nb {
			ln := append(g.links[n.id][l], id)
			if len(ln) > maxLinks {
				// Over the limit: drop n's farthest link. (The diversity
				// heuristic here too costs O(M²) distances per insert and
				// made building ten times slower for no measurable recall.)
				nv := g.vecs[n.id]
				worst, wd := 0, float32(-1)
				for i, x := range ln {
					if d := g.dist(nv, x); d > wd {
						worst, wd = i, d
					}
				}
				ln[worst] = ln[len(ln)-1]
				ln = ln[:len(ln)-1]
			}
			g.links[n.id][l] = ln
		}
	}
	if p.level > g.maxLevel {
		g.entry, g.maxLevel = id, p.level
	}
}

// selectNeighbours is the paper's heuristic: keep a candidate only if it is
// closer to the base than to every neighbour kept so far, so links spread
// in all directions; fill up with the nearest rejected ones.
func (g *graph) selectNeighbours(cs []cand, m int) []cand {
	if len(cs) <= m {
		return cs
	}
	out := make([]cand, 0, m)
	var rejected []cand
	for _, c := range cs {
		if len(out) == m {
			break
		}
		good := true
		cv := g.vecs[c.id]
		for _, o := range out {
			if g.dist(cv, o.id) < c.d {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		} else {
			rejected = append(rejected, c)
		}
	}
	for _, c := range rejected {
		if len(out) == m {
			break
		}
		out = append(out, c)
	}
	return out
}

// search returns up to k nearest nodes, nearest first.
func (g *graph) search(q []float32, k, ef int) []cand {
	if g.empty {
		return nil
	}
	ep := []cand{{g.entry, g.dist(q, g.entry)}}
	for l := g.maxLevel; l > 0; l-- {
		ep = g.searchLayer(q, ep, 1, l)
	}
	w := g.searchLayer(q, ep, max(ef, k), 0)
	if len(w) > k {
		w = w[:k]
	}
	return w
}

// searchLayer is the greedy beam search of one level; it returns up to ef
// nodes, nearest first.
func (g *graph) searchLayer(q []float32, ep []cand, ef, level int) []cand {
	vs := g.visitSet()
	defer g.visited.Put(vs)
	cands := vs.cands[:0] // min-heap: nearest first
	res := vs.res[:0]     // max-heap: farthest first
	for _, e := range ep {
		vs.visit(e.id)
		cands = pushMin(cands, e)
		res = pushMax(res, e)
		if len(res) > ef {
			res = popMax(res)
		}
	}
	for len(cands) > 0 {
		c := cands[0]
		cands = popMin(cands)
		if len(res) >= ef && c.d > res[0].d {
			break
		}
		if level >= len(g.links[c.id]) {
			continue
		}
		for _, n := range g.links[c.id][level] {
			if !vs.visit(n) {
				continue
			}
			d := g.dist(q, n)
			if len(res) < ef || d < res[0].d {
				cands = pushMin(cands, cand{n, d})
				res = pushMax(res, cand{n, d})
				if len(res) > ef {
					res = popMax(res)
				}
			}
		}
	}
	out := make([]cand, len(res))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = res[0]
		res = popMax(res)
	}
	vs.cands, vs.res = cands, res
	return out
}

// visitSet marks nodes seen by one search: an epoch per node, so it is
// reused across searches without clearing.
type visitSet struct {
	epoch      uint32
	marks      []uint32
	cands, res []cand // searchLayer's heaps, reused
}

func (g *graph) visitSet() *visitSet {
	vs, _ := g.visited.Get().(*visitSet)
	if vs == nil {
		vs = &visitSet{}
	}
	if n := len(g.links); len(vs.marks) < n {
		vs.marks = make([]uint32, n+n/4)
		vs.epoch = 0
	}
	vs.epoch++
	if vs.epoch == 0 { // wrapped: clear once every 4 billion searches
		clear(vs.marks)
		vs.epoch = 1
	}
	return vs
}

// visit marks id and reports whether it was new.
func (v *visitSet) visit(id uint32) bool {
	if v.marks[id] == v.epoch {
		return false
	}
	v.marks[id] = v.epoch
	return true
}

type cand struct {
	id uint32
	d  float32
}

func ids(cs []cand) []uint32 {
	out := make([]uint32, len(cs))
	for i, c := range cs {
		out[i] = c.id
	}
	return out
}

// Binary heaps on cand slices, without container/heap's boxing.

func pushMin(h []cand, c cand) []cand {
	h = append(h, c)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].d <= h[i].d {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	return h
}

func popMin(h []cand) []cand {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, s := 2*i+1, i
		if l < n && h[l].d < h[s].d {
			s = l
		}
		if r := l + 1; r < n && h[r].d < h[s].d {
			s = r
		}
		if s == i {
			return h
		}
		h[i], h[s] = h[s], h[i]
		i = s
	}
}

func pushMax(h []cand, c cand) []cand {
	h = append(h, c)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].d >= h[i].d {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	return h
}

func popMax(h []cand) []cand {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, s := 2*i+1, i
		if l < n && h[l].d > h[s].d {
			s = l
		}
		if r := l + 1; r < n && h[r].d > h[s].d {
			s = r
		}
		if s == i {
			return h
		}
		h[i], h[s] = h[s], h[i]
		i = s
	}
}
