package index

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/botserver-go/botserver-go/botstate/embed"
)

// graph is a Hierarchical Navigable Small World index (Malkov & Yashunin,
// 2016) over normalised vectors, distance 1 - dot. Nodes are internal ids
// into vecs, which the owner appends to; the graph only reads them. It is
// not safe for concurrent inserts; searches may run concurrently with each
// other (the owner's RWMutex orders them against inserts).
type graph struct {
	vecs     *[][]float32
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

func newGraph(vecs *[][]float32, m, efBuild int) *graph {
	return &graph{vecs: vecs, m: m, m0: 2 * m, efBuild: efBuild, ml: 1 / math.Log(float64(m)),
		empty: true, rng: rand.New(rand.NewPCG(1, 2))}
}

func (g *graph) dist(q []float32, id uint32) float32 { return 1 - embed.Dot(q, (*g.vecs)[id]) }

// insert links node id (already in vecs) into the graph.
func (g *graph) insert(id uint32) {
	for int(id) >= len(g.links) {
		g.links = append(g.links, nil)
	}
	level := int(-math.Log(1-g.rng.Float64()) * g.ml)
	g.links[id] = make([][]uint32, level+1)
	if g.empty {
		g.entry, g.maxLevel, g.empty = id, level, false
		return
	}
	q := (*g.vecs)[id]
	ep := []cand{{g.entry, g.dist(q, g.entry)}}
	for l := g.maxLevel; l > level; l-- {
		ep = g.searchLayer(q, ep, 1, l)
	}
	for l := min(level, g.maxLevel); l >= 0; l-- {
		w := g.searchLayer(q, ep, g.efBuild, l)
		maxLinks := g.m
		if l == 0 {
			maxLinks = g.m0
		}
		nb := g.selectNeighbours(w, g.m)
		g.links[id][l] = ids(nb)
		for _, n := range nb {
			ln := append(g.links[n.id][l], id)
			if len(ln) > maxLinks {
				// Over the limit: drop n's farthest link. (The diversity
				// heuristic here too costs O(M²) distances per insert and
				// made building ten times slower for no measurable recall.)
				nv := (*g.vecs)[n.id]
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
		ep = w
	}
	if level > g.maxLevel {
		g.entry, g.maxLevel = id, level
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
		cv := (*g.vecs)[c.id]
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
	cands := &minHeap{}
	res := &maxHeap{}
	for _, e := range ep {
		vs.visit(e.id)
		heap.Push(cands, e)
		heap.Push(res, e)
		if res.Len() > ef {
			heap.Pop(res)
		}
	}
	for cands.Len() > 0 {
		c := heap.Pop(cands).(cand)
		if res.Len() >= ef && c.d > (*res)[0].d {
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
			if res.Len() < ef || d < (*res)[0].d {
				heap.Push(cands, cand{n, d})
				heap.Push(res, cand{n, d})
				if res.Len() > ef {
					heap.Pop(res)
				}
			}
		}
	}
	out := make([]cand, res.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(res).(cand)
	}
	return out
}

// visitSet marks nodes seen by one search: an epoch per node, so it is
// reused across searches without clearing.
type visitSet struct {
	epoch uint32
	marks []uint32
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

type minHeap []cand

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i].d < h[j].d }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(cand)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type maxHeap []cand

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i].d > h[j].d }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(cand)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
