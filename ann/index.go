package ann

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Metric selects the distance.
type Metric int

const (
	// Cosine compares directions: vectors are normalised and the distance
	// is the Euclidean distance between unit vectors, sqrt(2-2cos).
	Cosine Metric = iota
	// InnerProduct is maximum inner product search; distance is -q·x.
	InnerProduct
	// Euclidean is the L2 distance.
	Euclidean
)

func (m Metric) String() string {
	switch m {
	case Cosine:
		return "cosine"
	case InnerProduct:
		return "inner-product"
	case Euclidean:
		return "euclidean"
	}
	return fmt.Sprintf("metric(%d)", int(m))
}

// ParseMetric reads a metric name as written by Metric.String.
func ParseMetric(s string) (Metric, error) {
	for _, m := range []Metric{Cosine, InnerProduct, Euclidean} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown metric %q (want cosine, inner-product or euclidean)", s)
}

// Kind is the search structure an index uses.
type Kind int

const (
	// Auto uses Exact below the brute-force threshold and Partitioned above.
	Auto Kind = iota
	// Exact scans every vector.
	Exact
	// Partitioned probes k-means partitions of 4-bit codes and re-ranks.
	Partitioned
)

// Item is one labelled vector. Label is the zone id of a ground-truth face.
type Item struct {
	ID     uint64
	Label  string
	Vector []float32
}

// Hit is one search result.
type Hit struct {
	ID       uint64
	Label    string
	Distance float32
}

// Config holds the build and search settings; Options change it.
type Config struct {
	Kind            Kind
	BruteForceBelow int     // Auto uses Exact below this many live vectors (20000)
	Partitions      int     // k-means partitions; 0: about sqrt(n)
	Probe           int     // partitions searched per query; 0: all (an exhaustive 4-bit scan)
	Rerank          int     // candidates re-ranked exactly; 0: 10*k (at least 100)
	SubspaceDims    int     // dimensions per 4-bit subspace (2)
	Anisotropic     float32 // ScaNN threshold T for the anisotropic loss; 0: isotropic (0.1)
	TrainSample     int     // vectors sampled for training (65536)
	Threads         int     // goroutines for builds and batches (GOMAXPROCS)
	Seed            uint64  // training seed
	Model           string  // model name written to manifests
}

// Option changes a Config.
type Option func(*Config)

// WithKind forces exact or partitioned search.
func WithKind(k Kind) Option { return func(c *Config) { c.Kind = k } }

// WithBruteForceBelow sets the size under which Auto searches exactly.
func WithBruteForceBelow(n int) Option { return func(c *Config) { c.BruteForceBelow = n } }

// WithPartitions sets the number of k-means partitions.
func WithPartitions(n int) Option { return func(c *Config) { c.Partitions = n } }

// WithProbe sets how many partitions a query searches.
func WithProbe(n int) Option { return func(c *Config) { c.Probe = n } }

// WithRerank sets how many candidates are re-ranked with exact distances.
func WithRerank(n int) Option { return func(c *Config) { c.Rerank = n } }

// WithSubspaceDims sets the dimensions per 4-bit code (2: 128 bytes for 512-d).
func WithSubspaceDims(n int) Option { return func(c *Config) { c.SubspaceDims = n } }

// WithAnisotropic sets ScaNN's anisotropic threshold T (0: plain PQ).
func WithAnisotropic(t float32) Option { return func(c *Config) { c.Anisotropic = t } }

// WithThreads sets the goroutines used by builds and batched search.
func WithThreads(n int) Option { return func(c *Config) { c.Threads = n } }

// WithSeed sets the training seed.
func WithSeed(s uint64) Option { return func(c *Config) { c.Seed = s } }

// WithModel names the embedding model (recorded in manifests).
func WithModel(name string) Option { return func(c *Config) { c.Model = name } }

func defaultConfig() Config {
	return Config{
		BruteForceBelow: 20000,
		SubspaceDims:    2,
		Anisotropic:     0.1,
		TrainSample:     65536,
		Threads:         runtime.GOMAXPROCS(0),
		Seed:            1,
	}
}

// Index is a vector index. It is safe for concurrent use: searches run in
// parallel, updates take a write lock.
type Index struct {
	mu     sync.RWMutex
	dim    int
	metric Metric
	cfg    Config

	// Slots: one per added vector, tombstoned on delete, compacted on build.
	ids     []uint64
	labels  []uint32 // index into labelNames
	vecs    []float32
	norms   []float32 // squared norms (Euclidean)
	deleted []bool
	live    int
	slotOf  map[uint64]int32

	labelNames []string
	labelID    map[string]uint32

	ivf     *ivf // nil: exact search
	frozen  bool // shards never retrain: results must match the parent
	trained int  // live vectors when ivf was trained
}

// New makes an empty index for vectors of dimension dim.
func New(dim int, metric Metric, opts ...Option) *Index {
	if dim <= 0 {
		panic(fmt.Sprintf("ann.New: dimension %d", dim))
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Threads < 1 {
		cfg.Threads = 1
	}
	if cfg.SubspaceDims < 1 {
		cfg.SubspaceDims = 2
	}
	return &Index{dim: dim, metric: metric, cfg: cfg, slotOf: map[uint64]int32{}, labelID: map[string]uint32{}}
}

// Dim is the vector dimension.
func (x *Index) Dim() int { return x.dim }

// Metric is the index's distance.
func (x *Index) Metric() Metric { return x.metric }

// Config returns the settings in use.
func (x *Index) Config() Config { return x.cfg }

// Len is the number of live vectors.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.live
}

// IsPartitioned reports whether searches use the partitioned structure.
func (x *Index) IsPartitioned() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.ivf != nil
}

// ErrDimension is returned for vectors of the wrong dimension.
var ErrDimension = errors.New("vector dimension mismatch")

// Add inserts items; an item whose ID is already present replaces it. A
// partitioned index encodes new items with its trained model (no rebuild);
// it retrains on the next Build or search once the set has drifted (see
// needsTrain).
func (x *Index) Add(items ...Item) error {
	for i, it := range items {
		if len(it.Vector) != x.dim {
			return fmt.Errorf("ann: item %d (id %d): %w: %d, index has %d", i, it.ID, ErrDimension, len(it.Vector), x.dim)
		}
		for j, v := range it.Vector {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("ann: item %d (id %d): component %d is %v", i, it.ID, j, v)
			}
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, it := range items {
		if s, ok := x.slotOf[it.ID]; ok {
			x.deleteSlot(s)
		}
		x.addSlot(it.ID, it.Label, it.Vector, true)
	}
	return nil
}

// addSlot appends an item; raw vectors are normalised for Cosine, stored
// ones (from a parent index or a file) are taken as they are.
func (x *Index) addSlot(id uint64, label string, v []float32, raw bool) int32 {
	slot := int32(len(x.ids))
	x.ids = append(x.ids, id)
	x.labels = append(x.labels, x.intern(label))
	start := len(x.vecs)
	x.vecs = append(x.vecs, v...)
	nv := x.vecs[start:]
	if raw && x.metric == Cosine {
		normalise(nv)
	}
	x.norms = append(x.norms, dotGeneric(nv, nv))
	x.deleted = append(x.deleted, false)
	x.slotOf[id] = slot
	x.live++
	if x.ivf != nil {
		x.ivf.add(x, slot)
	}
	return slot
}

func (x *Index) intern(label string) uint32 {
	if id, ok := x.labelID[label]; ok {
		return id
	}
	id := uint32(len(x.labelNames))
	x.labelNames = append(x.labelNames, label)
	x.labelID[label] = id
	return id
}

// Delete removes items by id and returns how many were present.
func (x *Index) Delete(ids ...uint64) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, id := range ids {
		if s, ok := x.slotOf[id]; ok {
			x.deleteSlot(s)
			n++
		}
	}
	return n
}

func (x *Index) deleteSlot(s int32) {
	x.deleted[s] = true
	delete(x.slotOf, x.ids[s])
	x.live--
}

func (x *Index) vec(s int32) []float32 {
	return x.vecs[int(s)*x.dim : int(s+1)*x.dim : int(s+1)*x.dim]
}

// Items returns the live items in slot order (vectors normalised for
// Cosine). The vectors share the index's memory: do not modify them.
func (x *Index) Items() []Item {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]Item, 0, x.live)
	for s := range x.ids {
		if !x.deleted[s] {
			out = append(out, Item{ID: x.ids[s], Label: x.labelNames[x.labels[s]], Vector: x.vec(int32(s))})
		}
	}
	return out
}

func normalise(v []float32) {
	n := math.Sqrt(float64(dotGeneric(v, v)))
	if n == 0 {
		return
	}
	inv := float32(1 / n)
	for i := range v {
		v[i] *= inv
	}
}

// wantPartitioned says which structure the current size calls for.
func (x *Index) wantPartitioned() bool {
	switch x.cfg.Kind {
	case Exact:
		return false
	case Partitioned:
		return x.live > 0
	}
	return x.live >= x.cfg.BruteForceBelow
}

// needsTrain reports whether Build would change the structure: a switch
// between exact and partitioned, or drift since training: the live set
// doubled or halved, or more than a quarter of the slots are tombstones.
func (x *Index) needsTrain() bool {
	if x.frozen {
		return false
	}
	want := x.wantPartitioned()
	if want != (x.ivf != nil) {
		return true
	}
	if x.ivf == nil {
		return len(x.ids) > 1024 && len(x.ids)-x.live > len(x.ids)/4
	}
	return x.live > 2*x.trained || 2*x.live < x.trained || len(x.ids)-x.live > len(x.ids)/4
}

// Build (re)trains the search structure when needed: compacts tombstones
// and trains the partitioned index for large sets. Searches call it
// lazily; call it after bulk loads to pay the cost up front.
func (x *Index) Build() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.needsTrain() {
		x.rebuild()
	}
}

// Retrain rebuilds the structure unconditionally (compacting tombstones).
func (x *Index) Retrain() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.frozen {
		x.rebuild()
	}
}

func (x *Index) rebuild() {
	x.compact()
	x.ivf = nil
	if x.wantPartitioned() {
		x.ivf = trainIVF(x)
		x.trained = x.live
	}
}

func (x *Index) compact() {
	if x.live == len(x.ids) {
		return
	}
	n := 0
	for s := range x.ids {
		if x.deleted[s] {
			continue
		}
		if n != s {
			x.ids[n] = x.ids[s]
			x.labels[n] = x.labels[s]
			copy(x.vecs[n*x.dim:(n+1)*x.dim], x.vecs[s*x.dim:(s+1)*x.dim])
			x.norms[n] = x.norms[s]
		}
		x.deleted[n] = false
		x.slotOf[x.ids[n]] = int32(n)
		n++
	}
	x.ids, x.labels, x.vecs, x.norms, x.deleted = x.ids[:n], x.labels[:n], x.vecs[:n*x.dim], x.norms[:n], x.deleted[:n]
}

// ensureBuilt trains lazily before a search; it returns with the read lock held.
func (x *Index) rlockBuilt() {
	x.mu.RLock()
	if !x.needsTrain() {
		return
	}
	x.mu.RUnlock()
	x.Build()
	x.mu.RLock()
}

// SetThreads changes the goroutines used by batched search and builds.
func (x *Index) SetThreads(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.cfg.Threads = max(1, n)
}

// Bytes estimates the memory the index holds: vectors, ids, labels,
// norms, slot map and, when partitioned, centroids, codebooks and codes.
func (x *Index) Bytes() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := int64(len(x.vecs))*4 + int64(len(x.ids))*(8+4+4+1) + int64(len(x.slotOf))*16
	for _, l := range x.labelNames {
		n += int64(len(l)) + 16
	}
	if v := x.ivf; v != nil {
		n += int64(len(v.centroids)+len(v.cnorms)+len(v.books)) * 4
		for _, l := range v.lists {
			n += int64(len(l.slots))*4 + int64(len(l.codes))
		}
	}
	return n
}
