// Package annbench owns the data and measurements for benchmarking the ann
// index: a seeded generator of face-like embeddings, a reader for Debian's
// Fashion-MNIST files, and recall/throughput measurement against exact
// search.
package annbench

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/celebrity-zones/cz/ann"
)

// FaceConfig describes a synthetic face-embedding set: many identities
// with a few samples each. Samples of one identity have cosine about
// Genuine; samples of different identities have cosine with mean 0 and
// standard deviation about ImpostorStd (the vectors follow a decaying
// spectrum, randomly rotated, whose effective dimension is 1/ImpostorStd²).
type FaceConfig struct {
	N           int     // base vectors
	Dim         int     // dimension
	Queries     int     // query vectors
	MinSamples  int     // samples per identity, at least (2)
	MaxSamples  int     // and at most (6)
	Genuine     float64 // intra-identity cosine (0.68)
	ImpostorStd float64 // impostor cosine spread (0.06)
	Unseen      float64 // share of queries from identities not in the base (0.5)
	Seed        uint64
}

// DefaultFaces is the 200k x 512 benchmark set.
func DefaultFaces() FaceConfig {
	return FaceConfig{N: 200000, Dim: 512, Queries: 10000, MinSamples: 2, MaxSamples: 6,
		Genuine: 0.68, ImpostorStd: 0.06, Unseen: 0.5, Seed: 42}
}

// FaceSet is a generated set. Identity[i] is item i's identity;
// QueryIdentity is -1 for a query of an unseen identity.
type FaceSet struct {
	Items         []ann.Item
	Identity      []int
	Queries       [][]float32
	QueryIdentity []int
}

type faceGen struct {
	cfg   FaceConfig
	r     *rand.Rand
	sd    []float64 // per-dimension standard deviation
	pairs [][]int   // rotation layers: dimension pairs
	angs  [][]float64
}

// Faces generates a face-like set. The same config gives the same set.
func Faces(cfg FaceConfig) (*FaceSet, error) {
	if cfg.N <= 0 || cfg.Dim < 2 || cfg.MinSamples < 1 || cfg.MaxSamples < cfg.MinSamples {
		return nil, fmt.Errorf("annbench: bad face config %+v", cfg)
	}
	if cfg.ImpostorStd <= 0 || cfg.ImpostorStd*cfg.ImpostorStd*float64(cfg.Dim) < 1 {
		return nil, fmt.Errorf("annbench: impostor std %.3f is below 1/sqrt(dim) = %.3f", cfg.ImpostorStd, 1/math.Sqrt(float64(cfg.Dim)))
	}
	g := &faceGen{cfg: cfg, r: rand.New(rand.NewPCG(cfg.Seed, 0xface))}
	g.spectrum()
	g.rotation()
	fs := &FaceSet{}
	id := 0
	for len(fs.Items) < cfg.N {
		c := g.center(id)
		ns := cfg.MinSamples + g.r.IntN(cfg.MaxSamples-cfg.MinSamples+1)
		for range ns {
			if len(fs.Items) == cfg.N {
				break
			}
			fs.Items = append(fs.Items, ann.Item{ID: uint64(len(fs.Items)), Label: fmt.Sprintf("id%d", id), Vector: g.sample(c)})
			fs.Identity = append(fs.Identity, id)
		}
		id++
	}
	// Seen queries: a fresh sample of an identity in the base. Unseen: a
	// sample of a new identity.
	seen := id
	for qi := 0; qi < cfg.Queries; qi++ {
		if g.r.Float64() < cfg.Unseen {
			fs.Queries = append(fs.Queries, g.sample(g.center(id)))
			fs.QueryIdentity = append(fs.QueryIdentity, -1)
			id++
			continue
		}
		who := g.r.IntN(seen)
		fs.Queries = append(fs.Queries, g.sample(g.center(who)))
		fs.QueryIdentity = append(fs.QueryIdentity, who)
	}
	return fs, nil
}

// spectrum picks per-dimension variances exp(-j/tau) with effective
// dimension (sum λ)²/sum λ² = 1/ImpostorStd².
func (g *faceGen) spectrum() {
	d := g.cfg.Dim
	want := 1 / (g.cfg.ImpostorStd * g.cfg.ImpostorStd)
	eff := func(tau float64) float64 {
		var s1, s2 float64
		for j := range d {
			l := math.Exp(-float64(j) / tau)
			s1 += l
			s2 += l * l
		}
		return s1 * s1 / s2
	}
	lo, hi := 1e-3, 1e9
	for range 200 {
		mid := math.Sqrt(lo * hi)
		if eff(mid) < want {
			lo = mid
		} else {
			hi = mid
		}
	}
	g.sd = make([]float64, d)
	for j := range d {
		g.sd[j] = math.Sqrt(math.Exp(-float64(j) / lo))
	}
}

// rotation draws layers of random Givens rotations over random pairings,
// which spread the spectrum over all coordinates (as in real embeddings,
// where variance is not axis-aligned).
func (g *faceGen) rotation() {
	d := g.cfg.Dim
	for range 12 {
		p := g.r.Perm(d)
		a := make([]float64, d/2)
		for i := range a {
			a[i] = g.r.Float64() * 2 * math.Pi
		}
		g.pairs = append(g.pairs, p)
		g.angs = append(g.angs, a)
	}
}

// center is identity id's direction, drawn from its own seeded stream so
// queries can regenerate it.
func (g *faceGen) center(id int) []float64 {
	return g.direction(rand.New(rand.NewPCG(g.cfg.Seed, uint64(id)<<1|1)))
}

// direction draws a random unit vector of the anisotropic distribution.
func (g *faceGen) direction(r *rand.Rand) []float64 {
	v := make([]float64, g.cfg.Dim)
	for j := range v {
		v[j] = r.NormFloat64() * g.sd[j]
	}
	for l, p := range g.pairs {
		for i, a := range g.angs[l] {
			x, y := v[p[2*i]], v[p[2*i+1]]
			s, c := math.Sincos(a)
			v[p[2*i]], v[p[2*i+1]] = c*x-s*y, s*x+c*y
		}
	}
	unit(v)
	return v
}

// sample returns a unit vector with cosine about sqrt(Genuine) to c, so
// two samples of c have cosine about Genuine.
func (g *faceGen) sample(c []float64) []float32 {
	a := math.Sqrt(g.cfg.Genuine)
	return g.mix(c, a)
}

func (g *faceGen) mix(c []float64, a float64) []float32 {
	n := g.direction(g.r)
	b := math.Sqrt(1 - a*a)
	v := make([]float64, len(c))
	for j := range v {
		v[j] = a*c[j] + b*n[j]
	}
	unit(v)
	out := make([]float32, len(v))
	for j := range v {
		out[j] = float32(v[j])
	}
	return out
}

func unit(v []float64) {
	var s float64
	for _, x := range v {
		s += x * x
	}
	s = 1 / math.Sqrt(s)
	for i := range v {
		v[i] *= s
	}
}
