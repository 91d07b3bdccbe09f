package ann

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"
)

// SearchOption changes one search.
type SearchOption func(*searchOpts)

type searchOpts struct {
	zones  []string
	probe  int
	rerank int
}

// InZones restricts a search to items whose Label is one of zones.
func InZones(zones ...string) SearchOption {
	return func(o *searchOpts) { o.zones = append(o.zones, zones...) }
}

// Probe overrides the number of partitions searched.
func Probe(n int) SearchOption { return func(o *searchOpts) { o.probe = n } }

// Rerank overrides the number of candidates re-ranked exactly.
func Rerank(n int) SearchOption { return func(o *searchOpts) { o.rerank = n } }

// Candidate is a search result before merging: Approx is the score the
// candidate was selected by (the 4-bit estimate in a partitioned index,
// the exact score otherwise) and Score the exact score (smaller is nearer).
type Candidate struct {
	ID     uint64
	Label  string
	Approx float32
	Score  float32
	slot   int32
}

// Candidates is what one index or shard returns for a query. Merge turns
// the candidates of any number of shards into the final hits.
type Candidates struct {
	Metric Metric
	K      int
	Rerank int // 0: the list holds exact top-k
	List   []Candidate
}

func lessApprox(a, b Candidate) bool {
	return a.Approx < b.Approx || (a.Approx == b.Approx && a.ID < b.ID)
}

func lessScore(a, b Candidate) bool {
	return a.Score < b.Score || (a.Score == b.Score && a.ID < b.ID)
}

// Merge combines the candidates of shards searched with the same query
// into the top k hits. For partitioned shards it keeps the Rerank best by
// estimate, then orders those by exact score, exactly as one unsharded
// index would; ties break by ID.
func Merge(k int, parts ...Candidates) []Hit {
	if len(parts) == 0 || k <= 0 {
		return nil
	}
	var all []Candidate
	rerank := 0
	for _, p := range parts {
		all = append(all, p.List...)
		rerank = max(rerank, p.Rerank)
	}
	if rerank > 0 && len(all) > rerank {
		slices.SortFunc(all, func(a, b Candidate) int { return cmpBy(lessApprox, a, b) })
		all = all[:rerank]
	}
	slices.SortFunc(all, func(a, b Candidate) int { return cmpBy(lessScore, a, b) })
	if len(all) > k {
		all = all[:k]
	}
	m := parts[0].Metric
	hits := make([]Hit, len(all))
	for i, c := range all {
		hits[i] = Hit{ID: c.ID, Label: c.Label, Distance: distance(m, c.Score)}
	}
	return hits
}

func cmpBy(less func(a, b Candidate) bool, a, b Candidate) int {
	if less(a, b) {
		return -1
	}
	if less(b, a) {
		return 1
	}
	return 0
}

// distance converts an internal score to the reported distance.
func distance(m Metric, s float32) float32 {
	switch m {
	case Cosine:
		return float32(math.Sqrt(math.Max(0, 2+2*float64(s))))
	case Euclidean:
		return float32(math.Sqrt(math.Max(0, float64(s))))
	}
	return s
}

// scoreBound converts a distance threshold to an internal score bound.
func scoreBound(m Metric, d float32) float32 {
	switch m {
	case Cosine:
		return d*d/2 - 1
	case Euclidean:
		if d < 0 {
			return -1
		}
		return d * d
	}
	return d
}

// query is a prepared query vector.
type query struct {
	v    []float32
	norm float32 // squared norm
}

func (x *Index) prepare(q []float32) query {
	if len(q) != x.dim {
		panic("ann: query dimension " + strconv.Itoa(len(q)) + ", index has " + strconv.Itoa(x.dim))
	}
	v := q
	if x.metric == Cosine {
		v = slices.Clone(q)
		normalise(v)
	}
	return query{v: v, norm: dotGeneric(v, v)}
}

// score is the exact internal score of slot s for a query given q·x.
func (x *Index) score(q query, s int32, d float32) float32 {
	if x.metric == Euclidean {
		return (q.norm + x.norms[s]) - 2*d
	}
	return -d
}

func (x *Index) allowed(o *searchOpts) []bool {
	if o.zones == nil {
		return nil
	}
	ok := make([]bool, len(x.labelNames))
	for _, z := range o.zones {
		if id, found := x.labelID[z]; found {
			ok[id] = true
		}
	}
	return ok
}

func (x *Index) skip(s int32, allow []bool) bool {
	return x.deleted[s] || (allow != nil && !allow[x.labels[s]])
}

// Search returns the k nearest live items, nearest first.
func (x *Index) Search(q []float32, k int, opts ...SearchOption) []Hit {
	return Merge(k, x.Candidates(q, k, opts...))
}

// Candidates searches this index (or shard) for q and returns what Merge
// needs to produce the final top k.
func (x *Index) Candidates(q []float32, k int, opts ...SearchOption) Candidates {
	var o searchOpts
	for _, f := range opts {
		f(&o)
	}
	x.rlockBuilt()
	defer x.mu.RUnlock()
	qq := x.prepare(q)
	if x.ivf != nil {
		return x.ivf.candidates(x, qq, k, &o)
	}
	return x.exactCandidates(qq, k, &o)
}

func (x *Index) exactCandidates(qq query, k int, o *searchOpts) Candidates {
	h := newTopK(k, lessScore)
	allow := x.allowed(o)
	for s := range int32(len(x.ids)) {
		if x.skip(s, allow) {
			continue
		}
		sc := x.score(qq, s, dot(qq.v, x.vec(s)))
		h.push(Candidate{ID: x.ids[s], Score: sc, Approx: sc, slot: s})
	}
	return Candidates{Metric: x.metric, K: k, List: x.labelled(h.items)}
}

func (x *Index) labelled(cs []Candidate) []Candidate {
	for i := range cs {
		cs[i].Label = x.labelNames[x.labels[cs[i].slot]]
	}
	return cs
}

// SearchBatch searches many queries, in parallel over Threads goroutines.
// Results equal those of Search. Exact indexes scan the vectors once per
// tile of queries, four queries per pass.
func (x *Index) SearchBatch(qs [][]float32, k int, opts ...SearchOption) [][]Hit {
	out := make([][]Hit, len(qs))
	var o searchOpts
	for _, f := range opts {
		f(&o)
	}
	x.rlockBuilt()
	partitioned := x.ivf != nil
	x.mu.RUnlock()
	if partitioned {
		// Chunks of queries scan partition by partition (codes stay in cache).
		const chunk = 64
		parallel((len(qs)+chunk-1)/chunk, x.cfg.Threads, func(c int) {
			lo, hi := c*chunk, min(c*chunk+chunk, len(qs))
			x.rlockBuilt()
			defer x.mu.RUnlock()
			pq := make([]query, hi-lo)
			for i := range pq {
				pq[i] = x.prepare(qs[lo+i])
			}
			if x.ivf == nil { // retrained to exact meanwhile
				for i, q := range pq {
					out[lo+i] = Merge(k, x.exactCandidates(q, k, &o))
				}
				return
			}
			for i, c := range x.ivf.candidatesBatch(x, pq, k, &o) {
				out[lo+i] = Merge(k, c)
			}
		})
		return out
	}
	// Exact: chunks of up to 128 queries scan the vectors tile by tile, so
	// a tile is read from memory once per chunk (32 queries per chunk
	// measured 10-15 % slower: memory-bound on the first pass); within a
	// tile, groups of four queries share each vector load.
	const chunk = 128
	chunks := (len(qs) + chunk - 1) / chunk
	parallel(chunks, x.cfg.Threads, func(c int) {
		lo, hi := c*chunk, min(c*chunk+chunk, len(qs))
		copy(out[lo:hi], x.exactBatch(qs[lo:hi], k, &o))
	})
	return out
}

// exactBatch scans for a chunk of queries: tiles of 256 vectors (512 KiB
// at 512-d, in L2), four queries per dot4Tile pass. Scores equal those of
// single searches. The kernel flags the vectors whose dot product can
// reach some query's heap (thr: its current worst, +Inf until full); only
// those are scored here, and push checks them exactly.
func (x *Index) exactBatch(qs [][]float32, k int, o *searchOpts) [][]Hit {
	x.rlockBuilt()
	defer x.mu.RUnlock()
	allow := x.allowed(o)
	pq := make([]query, (len(qs)+3)/4*4)
	hs := make([]*topK, len(qs))
	thr := make([]float32, len(qs))
	for i := range pq {
		if i < len(qs) {
			pq[i] = x.prepare(qs[i])
			hs[i] = newTopK(k, lessScore)
			thr[i] = float32(math.Inf(1))
		} else {
			pq[i] = pq[0]
		}
	}
	n := int32(len(x.ids))
	const tile = 256
	d := make([]float32, 4*tile)
	var hits [tile / 64]uint64
	euclid := x.metric == Euclidean
	for t0 := int32(0); t0 < n; t0 += tile {
		t1 := min(n, t0+tile)
		xs := x.vecs[int(t0)*x.dim : int(t1)*x.dim]
		for g := 0; g < len(qs); g += 4 {
			ng := min(4, len(qs)-g)
			// The kernel reports the vectors some query may keep: for
			// Cosine and InnerProduct, score -d is within thr when d is not
			// below -thr (exact); Euclidean checks every vector here.
			lo := [4]float32{float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1))}
			for i := range ng {
				if euclid {
					lo[i] = float32(math.Inf(-1))
				} else {
					lo[i] = -thr[g+i]
				}
			}
			dot4Tile(pq[g].v, pq[g+1].v, pq[g+2].v, pq[g+3].v, xs, x.dim, &lo, d, hits[:])
			for w, m := range hits {
				for ; m != 0; m &= m - 1 {
					j := w*64 + bits.TrailingZeros64(m)
					row := (*[4]float32)(d[4*j : 4*j+4])
					s := t0 + int32(j)
					for i := range ng {
						sc := x.score(pq[g+i], s, row[i])
						if sc > thr[g+i] || x.skip(s, allow) {
							continue
						}
						h := hs[g+i]
						h.push(Candidate{ID: x.ids[s], Score: sc, Approx: sc, slot: s})
						if len(h.items) == h.k && h.k > 0 {
							thr[g+i] = h.items[0].Score
						}
					}
				}
			}
		}
	}
	res := make([][]Hit, len(qs))
	for i := range qs {
		res[i] = Merge(k, Candidates{Metric: x.metric, K: k, List: x.labelled(hs[i].items)})
	}
	return res
}

// Range returns every live item within maxDist of q, nearest first. A
// partitioned index computes exact distances over the probed partitions
// only, so far-away matches in unprobed partitions can be missed.
func (x *Index) Range(q []float32, maxDist float32, opts ...SearchOption) []Hit {
	var o searchOpts
	for _, f := range opts {
		f(&o)
	}
	x.rlockBuilt()
	defer x.mu.RUnlock()
	qq := x.prepare(q)
	bound := scoreBound(x.metric, maxDist)
	allow := x.allowed(&o)
	var list []Candidate
	visit := func(s int32) {
		if x.skip(s, allow) {
			return
		}
		sc := x.score(qq, s, dot(qq.v, x.vec(s)))
		if sc <= bound {
			list = append(list, Candidate{ID: x.ids[s], Label: x.labelNames[x.labels[s]], Score: sc})
		}
	}
	if x.ivf != nil {
		x.ivf.visitProbed(x, qq, &o, visit)
	} else {
		for s := range int32(len(x.ids)) {
			visit(s)
		}
	}
	return Merge(len(list), Candidates{Metric: x.metric, K: len(list), List: list})
}

// topK keeps the k smallest candidates under less: a bounded max-heap
// (worst at items[0]), written out to avoid container/heap's boxing.
type topK struct {
	k     int
	less  func(a, b Candidate) bool
	items []Candidate
}

func newTopK(k int, less func(a, b Candidate) bool) *topK {
	return &topK{k: k, less: less, items: make([]Candidate, 0, max(k, 0))}
}

// rejects reports whether c cannot enter the heap.
func (h *topK) rejects(c Candidate) bool {
	return h.k <= 0 || (len(h.items) == h.k && !h.less(c, h.items[0]))
}

func (h *topK) push(c Candidate) {
	if h.rejects(c) {
		return
	}
	if len(h.items) < h.k {
		h.items = append(h.items, c)
		i := len(h.items) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !h.less(h.items[p], h.items[i]) {
				break
			}
			h.items[p], h.items[i] = h.items[i], h.items[p]
			i = p
		}
		return
	}
	h.items[0] = c
	n, i := len(h.items), 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		big := l
		if r := l + 1; r < n && h.less(h.items[l], h.items[r]) {
			big = r
		}
		if !h.less(h.items[i], h.items[big]) {
			break
		}
		h.items[i], h.items[big] = h.items[big], h.items[i]
		i = big
	}
}

// parallel runs f(0..n-1) on up to threads goroutines.
func parallel(n, threads int, f func(i int)) {
	if threads <= 1 || n <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for range min(threads, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= n {
					return
				}
				f(j)
			}
		}()
	}
	wg.Wait()
}
