package ann

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// ivf is the partitioned structure: k-means partitions whose members are
// stored as 4-bit product-quantisation codes of their residual to the
// partition centroid, laid out for the in-register lookup scan (scanPQ4).
//
// A query ranks partitions by centroid score, builds one 16-entry lookup
// table per subspace (q·codeword, quantised to 6 bits with one global
// scale), scans the codes of the probed partitions, keeps the Rerank best
// estimates and scores those exactly. Codes are chosen under ScaNN's
// anisotropic loss: the error parallel to the vector costs eta times the
// orthogonal error, since that is the part that changes inner products.
type ivf struct {
	nlist     int
	dim       int
	centroids []float32 // nlist*dim
	cnorms    []float32
	sub       int       // dimensions per subspace
	m         int       // subspaces
	books     []float32 // m*16*sub: codeword c of subspace s at (s*16+c)*sub
	eta       float32   // anisotropic weight of the parallel error
	lists     []plist
}

type plist struct {
	slots []int32
	codes []uint8 // blocks of 32 vectors, m*16 bytes each
}

func newIVF(dim, nlist, sub int, eta float32) *ivf {
	m := (dim + sub - 1) / sub
	return &ivf{nlist: nlist, dim: dim, sub: sub, m: m, eta: eta,
		centroids: make([]float32, nlist*dim), cnorms: make([]float32, nlist),
		books: make([]float32, m*16*sub), lists: make([]plist, nlist)}
}

func etaFor(dim int, t float32) float32 {
	if t <= 0 || t >= 1 {
		return 1
	}
	return float32(dim-1) * t * t / (1 - t*t)
}

func (v *ivf) centroid(p int) []float32 { return v.centroids[p*v.dim : (p+1)*v.dim] }

// nearest returns the partition whose centroid is nearest in L2.
func (v *ivf) nearest(x []float32) int {
	best, bs := 0, float32(math.Inf(1))
	for p := range v.nlist {
		s := v.cnorms[p] - 2*dot(x, v.centroid(p))
		if s < bs {
			best, bs = p, s
		}
	}
	return best
}

// trainIVF trains partitions and codebooks on the live vectors of x and
// encodes them all. x must be compacted.
func trainIVF(x *Index) *ivf {
	n := x.live
	cfg := x.cfg
	nlist := cfg.Partitions
	if nlist <= 0 {
		nlist = int(math.Round(math.Sqrt(float64(n))))
	}
	nlist = max(1, min(nlist, n))
	v := newIVF(x.dim, nlist, cfg.SubspaceDims, etaFor(x.dim, cfg.Anisotropic))
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5ca77))
	perm := r.Perm(n)
	sample := perm[:min(n, 40*nlist, max(cfg.TrainSample, nlist))]
	v.kmeans(x, sample, r, cfg.Threads)

	// Assign every vector.
	assign := make([]int32, n)
	parallel((n+255)/256, cfg.Threads, func(b int) {
		for s := b * 256; s < min(n, b*256+256); s++ {
			assign[s] = int32(v.nearest(x.vec(int32(s))))
		}
	})

	// Codebooks on residuals of up to 8192 vectors.
	ps := perm[:min(n, 8192)]
	res := make([]float32, len(ps)*x.dim)
	for i, s := range ps {
		c := v.centroid(int(assign[s]))
		xv := x.vec(int32(s))
		for d := range x.dim {
			res[i*x.dim+d] = xv[d] - c[d]
		}
	}
	parallel(v.m, cfg.Threads, func(s int) { v.trainBook(s, res, len(ps), cfg.Seed) })

	// Encode in parallel, append in slot order (deterministic layout).
	codes := make([]uint8, n*v.m)
	parallel((n+255)/256, cfg.Threads, func(b int) {
		for s := b * 256; s < min(n, b*256+256); s++ {
			v.encode(x.vec(int32(s)), int(assign[s]), codes[s*v.m:(s+1)*v.m])
		}
	})
	for s := range n {
		v.appendCode(int(assign[s]), int32(s), codes[s*v.m:(s+1)*v.m])
	}
	return v
}

// kmeans trains the partition centroids (L2 Lloyd iterations).
func (v *ivf) kmeans(x *Index, sample []int, r *rand.Rand, threads int) {
	d := v.dim
	for p := range v.nlist {
		copy(v.centroid(p), x.vec(int32(sample[p%len(sample)])))
	}
	v.updateNorms()
	assign := make([]int32, len(sample))
	for iter := 0; iter < 10; iter++ {
		parallel((len(sample)+255)/256, threads, func(b int) {
			for i := b * 256; i < min(len(sample), b*256+256); i++ {
				assign[i] = int32(v.nearest(x.vec(int32(sample[i]))))
			}
		})
		sums := make([]float64, v.nlist*d)
		counts := make([]int, v.nlist)
		for i, s := range sample {
			p := int(assign[i])
			counts[p]++
			xv := x.vec(int32(s))
			acc := sums[p*d : (p+1)*d]
			for j := range d {
				acc[j] += float64(xv[j])
			}
		}
		for p := range v.nlist {
			c := v.centroid(p)
			if counts[p] == 0 { // empty: restart at a random sample point
				copy(c, x.vec(int32(sample[r.IntN(len(sample))])))
				continue
			}
			for j := range d {
				c[j] = float32(sums[p*d+j] / float64(counts[p]))
			}
		}
		v.updateNorms()
	}
}

func (v *ivf) updateNorms() {
	for p := range v.nlist {
		c := v.centroid(p)
		v.cnorms[p] = dotGeneric(c, c)
	}
}

// span returns the dimensions of subspace s.
func (v *ivf) span(s int) (lo, hi int) {
	return s * v.sub, min(v.dim, (s+1)*v.sub)
}

func (v *ivf) book(s, c int) []float32 {
	return v.books[(s*16+c)*v.sub : (s*16+c+1)*v.sub]
}

// trainBook runs 16-means on subspace s of the residuals.
func (v *ivf) trainBook(s int, res []float32, n int, seed uint64) {
	lo, hi := v.span(s)
	w := hi - lo
	r := rand.New(rand.NewPCG(seed, uint64(s)+1))
	pts := make([]float32, n*w)
	for i := range n {
		copy(pts[i*w:(i+1)*w], res[i*v.dim+lo:i*v.dim+hi])
	}
	cb := make([]float32, 16*w)
	for c := range 16 {
		k := r.IntN(n)
		copy(cb[c*w:(c+1)*w], pts[k*w:(k+1)*w])
	}
	sums := make([]float64, 16*w)
	var counts [16]int
	for iter := 0; iter < 10; iter++ {
		clear(sums)
		counts = [16]int{}
		for i := range n {
			p := pts[i*w : (i+1)*w]
			best, bd := 0, float32(math.Inf(1))
			for c := range 16 {
				b := cb[c*w : (c+1)*w]
				var dd float32
				for j, pj := range p {
					e := pj - b[j]
					dd += e * e
				}
				if dd < bd {
					best, bd = c, dd
				}
			}
			counts[best]++
			for j, pj := range p {
				sums[best*w+j] += float64(pj)
			}
		}
		for c := range 16 {
			if counts[c] == 0 {
				k := r.IntN(n)
				copy(cb[c*w:(c+1)*w], pts[k*w:(k+1)*w])
				continue
			}
			for j := range w {
				cb[c*w+j] = float32(sums[c*w+j] / float64(counts[c]))
			}
		}
	}
	copy(v.books[s*16*v.sub:], cb)
}

// encode chooses the 4-bit codes of xv's residual to partition p: nearest
// codewords, then coordinate descent on the anisotropic loss
// ||e||² + (eta-1)(e·u)², e the residual error and u = xv/||xv||.
func (v *ivf) encode(xv []float32, p int, out []uint8) {
	c := v.centroid(p)
	var sumsq, par float64
	norm := math.Sqrt(float64(dotGeneric(xv, xv)))
	inv := 0.0
	if norm > 0 {
		inv = 1 / norm
	}
	es := make([]float64, v.m) // per-subspace squared error
	ep := make([]float64, v.m) // per-subspace parallel error
	errOf := func(s, code int) (sq, pa float64) {
		lo, hi := v.span(s)
		b := v.book(s, code)
		for j := lo; j < hi; j++ {
			e := float64(xv[j] - c[j] - b[j-lo])
			sq += e * e
			pa += e * float64(xv[j]) * inv
		}
		return
	}
	for s := range v.m {
		best, bd, bp := 0, math.Inf(1), 0.0
		for code := range 16 {
			sq, pa := errOf(s, code)
			if sq < bd {
				best, bd, bp = code, sq, pa
			}
		}
		out[s] = uint8(best)
		es[s], ep[s] = bd, bp
		sumsq += bd
		par += bp
	}
	if v.eta == 1 {
		return
	}
	k := float64(v.eta - 1)
	for round := 0; round < 3; round++ {
		changed := false
		for s := range v.m {
			best := int(out[s])
			bl := sumsq + k*par*par
			var bsq, bpa float64 = es[s], ep[s]
			for code := range 16 {
				if code == int(out[s]) {
					continue
				}
				sq, pa := errOf(s, code)
				ns := sumsq - es[s] + sq
				np := par - ep[s] + pa
				if l := ns + k*np*np; l < bl {
					best, bl, bsq, bpa = code, l, sq, pa
				}
			}
			if best != int(out[s]) {
				sumsq += bsq - es[s]
				par += bpa - ep[s]
				es[s], ep[s] = bsq, bpa
				out[s] = uint8(best)
				changed = true
			}
		}
		if !changed {
			break
		}
	}
}

func (v *ivf) appendCode(p int, slot int32, code []uint8) {
	l := &v.lists[p]
	j := len(l.slots)
	if j%32 == 0 {
		l.codes = append(l.codes, make([]uint8, v.m*16)...)
	}
	blk := l.codes[(j/32)*v.m*16:]
	for s, c := range code {
		if j%32 < 16 {
			blk[s*16+j%32] |= c & 15
		} else {
			blk[s*16+j%32-16] |= c << 4
		}
	}
	l.slots = append(l.slots, slot)
}

// codeAt unpacks the codes of list position j.
func (v *ivf) codeAt(p, j int, out []uint8) {
	blk := v.lists[p].codes[(j/32)*v.m*16:]
	for s := range v.m {
		b := blk[s*16+j%16]
		if j%32 >= 16 {
			b >>= 4
		}
		out[s] = b & 15
	}
}

func (v *ivf) add(x *Index, slot int32) {
	xv := x.vec(slot)
	p := v.nearest(xv)
	code := make([]uint8, v.m)
	v.encode(xv, p, code)
	v.appendCode(p, slot, code)
}

// probeOrder returns the partitions to search, best first (when probing
// all, only the nearest is placed first), with q·centroid.
func (v *ivf) probeOrder(x *Index, q query, probe int) ([]int, []float32) {
	dots := make([]float32, v.nlist)
	order := make([]int, v.nlist)
	keys := make([]float32, v.nlist)
	for p := range v.nlist {
		d := dot(q.v, v.centroid(p))
		dots[p] = d
		order[p] = p
		if x.metric == Euclidean {
			keys[p] = v.cnorms[p] - 2*d
		} else {
			keys[p] = -d
		}
	}
	if probe >= v.nlist { // all of them: only the nearest needs to come first
		best := 0
		for p := range v.nlist {
			if keys[p] < keys[best] {
				best = p
			}
		}
		order[0], order[best] = order[best], order[0]
		return order, dots
	}
	slices.SortFunc(order, func(a, b int) int {
		if keys[a] != keys[b] {
			if keys[a] < keys[b] {
				return -1
			}
			return 1
		}
		return a - b
	})
	return order[:min(probe, v.nlist)], dots
}

func (x *Index) probeCount(o *searchOpts) int {
	p := o.probe
	if p <= 0 {
		p = x.cfg.Probe
	}
	if p <= 0 {
		p = x.ivf.nlist
	}
	return p
}

// lut builds the 6-bit lookup tables for q (entries <= lutMax): entry
// (s,c) estimates the contribution of codeword c to the score, as
// (entry/scale + min_s).
func (v *ivf) lut(q query, metric Metric) (lut []uint8, bias, scale float32) {
	f := make([]float32, v.m*16)
	mul := float32(-1)
	if metric == Euclidean {
		mul = -2
	}
	var maxRange, sumRange float32
	mins := make([]float32, v.m)
	for s := range v.m {
		lo, hi := v.span(s)
		e := (*[16]float32)(f[s*16 : s*16+16])
		book := v.books[s*16*v.sub : (s+1)*16*v.sub]
		if hi-lo == 2 && v.sub == 2 {
			q0, q1 := mul*q.v[lo], mul*q.v[lo+1]
			for c := range 16 {
				e[c] = q0*book[2*c] + q1*book[2*c+1]
			}
		} else {
			qs := q.v[lo:hi]
			for c := range 16 {
				b := book[c*v.sub : c*v.sub+len(qs)]
				var d float32
				for j := range qs {
					d += qs[j] * b[j]
				}
				e[c] = mul * d
			}
		}
		mn, mx := e[0], e[0]
		for _, x := range e[1:] {
			mn, mx = min(mn, x), max(mx, x)
		}
		mins[s] = mn
		bias += mn
		maxRange = max(maxRange, mx-mn)
		sumRange += mx - mn
	}
	sc := float32(1)
	if maxRange > 0 {
		sc = min(lutMax/maxRange, float32(65535-v.m)/sumRange)
	}
	lut = make([]uint8, v.m*16)
	for s := range v.m {
		mn := mins[s]
		for c := range 16 {
			lut[s*16+c] = uint8(min(lutMax, (f[s*16+c]-mn)*sc+0.5))
		}
	}
	return lut, bias, sc
}

func (x *Index) rerankCount(o *searchOpts, k int) int {
	r := o.rerank
	if r <= 0 {
		r = x.cfg.Rerank
	}
	if r <= 0 {
		r = max(100, 10*k)
	}
	return max(r, k)
}

// qscan is one query's state while scanning partitions.
type qscan struct {
	q           query
	order       []int
	dots        []float32
	lut         []uint8
	bias, scale float32
	h           *topK
	allow       []bool
	rerank, k   int
}

func (v *ivf) startScan(x *Index, q query, k int, o *searchOpts) *qscan {
	st := &qscan{q: q, k: k, rerank: x.rerankCount(o, k), allow: x.allowed(o)}
	st.order, st.dots = v.probeOrder(x, q, x.probeCount(o))
	st.lut, st.bias, st.scale = v.lut(q, x.metric)
	// Like lessApprox, but reads IDs only on ties: candidates carry their
	// ID from finish on, so the scan touches no per-item memory.
	st.h = newTopK(st.rerank, func(a, b Candidate) bool {
		return a.Approx < b.Approx || (a.Approx == b.Approx && x.ids[a.slot] < x.ids[b.slot])
	})
	return st
}

// base is the score offset of partition p's 4-bit estimates.
func (st *qscan) base(x *Index, p int) float32 {
	if x.metric == Euclidean {
		return st.bias - 2*st.dots[p] + st.q.norm
	}
	return st.bias - st.dots[p]
}

// bound returns a conservative integer threshold (one unit of slack for
// float rounding): a 4-bit sum above it cannot enter the full heap.
// Euclidean adds a per-vector norm, so it has no integer bound.
func (st *qscan) bound(x *Index, base float32) int32 {
	if len(st.h.items) < st.rerank || x.metric == Euclidean {
		return math.MaxInt32
	}
	return int32(max(-1, min(1<<20, math.Floor(float64(st.h.items[0].Approx-base)*float64(st.scale))+1)))
}

// scan scores partition p's codes and offers its vectors to the heap.
func (st *qscan) scan(x *Index, p int, buf *scanBuf) {
	l := &x.ivf.lists[p]
	n := len(l.slots)
	base := st.base(x, p)
	thr := st.bound(x, base)
	if n == 0 || thr < 0 {
		return
	}
	nb := (n + 31) / 32
	buf.grow(nb)
	scanPQ4(st.lut, l.codes, x.ivf.m, nb, uint16(min(thr, math.MaxUint16)), buf.acc, buf.hits)
	h, R := st.h, st.rerank
	inv := 1 / st.scale
	worst := float32(math.Inf(1))
	if len(h.items) == R {
		worst = h.items[0].Approx
	}
	filter := st.allow != nil || x.live < len(x.ids) // zones or tombstones
	for b, mask := range buf.hits {
		if b == nb-1 && n%32 != 0 {
			mask &= 1<<(n%32) - 1 // padding
		}
		for ; mask != 0; mask &= mask - 1 {
			j := b*32 + bits.TrailingZeros32(mask)
			if int32(buf.acc[j]) > thr { // thr tightens as the heap fills
				continue
			}
			s := l.slots[j]
			a := base + float32(buf.acc[j])*inv
			if x.metric == Euclidean {
				a += x.norms[s]
			}
			if a > worst {
				continue
			}
			c := Candidate{Approx: a, slot: s}
			if h.rejects(c) || filter && x.skip(s, st.allow) {
				continue
			}
			h.push(c)
			if len(h.items) == R {
				worst = h.items[0].Approx
				thr = st.bound(x, base)
			}
		}
	}
}

// scanBuf holds a partition's 4-bit sums and per-block hit masks.
type scanBuf struct {
	acc  []uint16
	hits []uint32
}

func (b *scanBuf) grow(nblocks int) {
	if cap(b.hits) < nblocks {
		b.acc, b.hits = make([]uint16, nblocks*32), make([]uint32, nblocks)
	}
	b.acc, b.hits = b.acc[:nblocks*32], b.hits[:nblocks]
}

// finish re-ranks the kept candidates exactly.
func (st *qscan) finish(x *Index) Candidates {
	list := st.h.items
	for i := range list {
		s := list[i].slot
		list[i].ID = x.ids[s]
		list[i].Score = x.score(st.q, s, dot(st.q.v, x.vec(s)))
		list[i].Label = x.labelNames[x.labels[s]]
	}
	return Candidates{Metric: x.metric, K: st.k, Rerank: st.rerank, List: list}
}

func (v *ivf) candidates(x *Index, q query, k int, o *searchOpts) Candidates {
	st := v.startScan(x, q, k, o)
	var buf scanBuf
	for _, p := range st.order {
		st.scan(x, p, &buf)
	}
	return st.finish(x)
}

// candidatesBatch searches several queries partition by partition, so a
// partition's codes are read from memory once and then scanned from cache
// for each query that probes it. Results equal candidates for each query.
func (v *ivf) candidatesBatch(x *Index, qs []query, k int, o *searchOpts) []Candidates {
	sts := make([]*qscan, len(qs))
	probed := make([][]bool, len(qs))
	any := make([]bool, v.nlist)
	var buf scanBuf
	for i, q := range qs {
		st := v.startScan(x, q, k, o)
		sts[i] = st
		probed[i] = make([]bool, v.nlist)
		for _, p := range st.order {
			probed[i][p] = true
			any[p] = true
		}
		// The nearest partition first, alone: the heap starts with good
		// candidates and a tight threshold (the kept set does not depend
		// on the order partitions are scanned in).
		if len(st.order) > 0 {
			st.scan(x, st.order[0], &buf)
			probed[i][st.order[0]] = false
		}
	}
	for p := range v.nlist {
		if !any[p] {
			continue
		}
		for i, st := range sts {
			if probed[i][p] {
				st.scan(x, p, &buf)
			}
		}
	}
	out := make([]Candidates, len(qs))
	for i, st := range sts {
		out[i] = st.finish(x)
	}
	return out
}

func (v *ivf) visitProbed(x *Index, q query, o *searchOpts, visit func(s int32)) {
	order, _ := v.probeOrder(x, q, x.probeCount(o))
	for _, p := range order {
		for _, s := range v.lists[p].slots {
			visit(s)
		}
	}
}
