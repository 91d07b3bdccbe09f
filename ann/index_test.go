package ann_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/ann/annbench"
)

func randomItems(r *rand.Rand, n, dim int, zones int) []ann.Item {
	items := make([]ann.Item, n)
	for i := range items {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		items[i] = ann.Item{ID: uint64(1000 + i*7), Label: fmt.Sprintf("zone%d", i%zones), Vector: v}
	}
	return items
}

// naive computes exact distances in float64 under the package's convention.
func naive(m ann.Metric, items []ann.Item, q []float32, k int) []ann.Hit {
	unit := func(v []float32) []float64 {
		out := make([]float64, len(v))
		var n float64
		for i, x := range v {
			out[i] = float64(x)
			n += out[i] * out[i]
		}
		if m == ann.Cosine {
			for i := range out {
				out[i] /= math.Sqrt(n)
			}
		}
		return out
	}
	qq := unit(q)
	var hits []ann.Hit
	for _, it := range items {
		x := unit(it.Vector)
		var d, s float64
		for i := range x {
			d += qq[i] * x[i]
			s += (qq[i] - x[i]) * (qq[i] - x[i])
		}
		var dist float64
		switch m {
		case ann.Cosine, ann.Euclidean:
			dist = math.Sqrt(s)
		case ann.InnerProduct:
			dist = -d
		}
		hits = append(hits, ann.Hit{ID: it.ID, Label: it.Label, Distance: float32(dist)})
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].Distance < hits[j].Distance })
	return hits[:min(k, len(hits))]
}

func ids(hs []ann.Hit) []uint64 {
	out := make([]uint64, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

func TestExactMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, m := range []ann.Metric{ann.Cosine, ann.InnerProduct, ann.Euclidean} {
		for _, dim := range []int{3, 17, 128} {
			items := randomItems(r, 500, dim, 5)
			x := ann.New(dim, m)
			if err := x.Add(items...); err != nil {
				t.Fatal(err)
			}
			for qi := 0; qi < 20; qi++ {
				q := randomItems(r, 1, dim, 1)[0].Vector
				got := x.Search(q, 10)
				want := naive(m, items, q, 10)
				if !slices.Equal(ids(got), ids(want)) {
					t.Fatalf("%v dim %d: ids %v, want %v", m, dim, ids(got), ids(want))
				}
				for i := range got {
					if d := math.Abs(float64(got[i].Distance - want[i].Distance)); d > 1e-4*math.Max(1, math.Abs(float64(want[i].Distance))) {
						t.Fatalf("%v dim %d: hit %d distance %v, want %v", m, dim, i, got[i].Distance, want[i].Distance)
					}
					if got[i].Label != want[i].Label {
						t.Fatalf("label %q, want %q", got[i].Label, want[i].Label)
					}
				}
			}
		}
	}
}

func TestCosineDistanceConvention(t *testing.T) {
	x := ann.New(2, ann.Cosine)
	x.Add(ann.Item{ID: 1, Vector: []float32{3, 0}}, ann.Item{ID: 2, Vector: []float32{0, 5}}, ann.Item{ID: 3, Vector: []float32{-1, 0}})
	hits := x.Search([]float32{2, 0}, 3)
	want := []float32{0, float32(math.Sqrt2), 2} // sqrt(2-2cos): cos 1, 0, -1
	for i, h := range hits {
		if math.Abs(float64(h.Distance-want[i])) > 1e-6 {
			t.Errorf("hit %d (id %d): distance %v, want %v", i, h.ID, h.Distance, want[i])
		}
	}
}

func TestSearchBatchEqualsSearch(t *testing.T) {
	fs := faces(t, 6000, 64, 42) // 42 queries: the last group of four is partial
	zone := fs.Items[0].Label
	for _, kind := range []ann.Kind{ann.Exact, ann.Partitioned} {
		for _, m := range []ann.Metric{ann.Cosine, ann.Euclidean, ann.InnerProduct} {
			x := ann.New(64, m, ann.WithKind(kind), ann.WithThreads(2))
			x.Add(fs.Items...)
			for i := 0; i < len(fs.Items); i += 7 {
				x.Delete(fs.Items[i].ID)
			}
			for _, opts := range [][]ann.SearchOption{nil, {ann.InZones(zone, fs.Items[100].Label)}} {
				batch := x.SearchBatch(fs.Queries, 7, opts...)
				for i, q := range fs.Queries {
					one := x.Search(q, 7, opts...)
					if !slices.Equal(one, batch[i]) {
						t.Fatalf("kind %d %v zones %v query %d: batch %v, single %v", kind, m, opts != nil, i, batch[i], one)
					}
				}
			}
		}
	}
}

func faces(t testing.TB, n, dim, queries int) *annbench.FaceSet {
	cfg := annbench.DefaultFaces()
	cfg.N, cfg.Dim, cfg.Queries = n, dim, queries
	cfg.ImpostorStd = math.Max(cfg.ImpostorStd, 1.2/math.Sqrt(float64(dim)))
	fs, err := annbench.Faces(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestPartitionedRecall checks the partitioned index against exact search
// on face-like data, for cosine at 512-d and Euclidean on unnormalised
// 128-d vectors (dlib's convention).
func TestPartitionedRecall(t *testing.T) {
	for _, tc := range []struct {
		metric ann.Metric
		dim    int
		scale  bool
	}{{ann.Cosine, 512, false}, {ann.Euclidean, 128, true}} {
		fs := faces(t, 8000, tc.dim, 200)
		if tc.scale { // dlib-like norms around 0.4-0.6
			r := rand.New(rand.NewPCG(9, 9))
			for _, it := range fs.Items {
				s := float32(0.4 + 0.2*r.Float64())
				for j := range it.Vector {
					it.Vector[j] *= s
				}
			}
		}
		exact := ann.New(tc.dim, tc.metric, ann.WithKind(ann.Exact))
		exact.Add(fs.Items...)
		want := exact.SearchBatch(fs.Queries, 10)
		x := ann.New(tc.dim, tc.metric, ann.WithBruteForceBelow(5000), ann.WithThreads(2))
		x.Add(fs.Items...)
		x.Build()
		if !x.IsPartitioned() {
			t.Fatal("8000 items above a 5000 threshold should be partitioned")
		}
		identity := func(id uint64) int { return fs.Identity[id] }
		all := x.SearchBatch(fs.Queries, 10, ann.Probe(1<<20))
		def := x.SearchBatch(fs.Queries, 10)
		r10 := annbench.RecallAtK(want, all, 10)
		idAll := annbench.IdentityRecall(want, all, 10, fs.QueryIdentity, identity)
		idDef := annbench.IdentityRecall(want, def, 10, fs.QueryIdentity, identity)
		t.Logf("%v %d-d: all partitions recall@10 %.3f identity %.3f; default probe recall@10 %.3f identity %.3f",
			tc.metric, tc.dim, r10, idAll, annbench.RecallAtK(want, def, 10), idDef)
		if r10 < 0.95 || idAll < 0.99 || idDef < 0.95 {
			t.Errorf("%v: recall too low", tc.metric)
		}
	}
}

func TestShardMergeEqualsUnsharded(t *testing.T) {
	fs := faces(t, 5000, 64, 60)
	for _, kind := range []ann.Kind{ann.Exact, ann.Partitioned} {
		x := ann.New(64, ann.Cosine, ann.WithKind(kind), ann.WithRerank(30))
		x.Add(fs.Items...)
		x.Delete(3, 4, 5)
		for _, by := range []ann.ShardBy{ann.ByID, ann.ByPartition} {
			shards, err := x.Split(3, by)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, s := range shards {
				total += s.Len()
				if s.Len() == 0 {
					t.Fatalf("kind %d by %d: empty shard", kind, by)
				}
			}
			if total != x.Len() {
				t.Fatalf("shards hold %d items, index %d", total, x.Len())
			}
			for qi, q := range fs.Queries {
				for _, opts := range [][]ann.SearchOption{nil, {ann.InZones("id1", "id2", "id40", "id41")}} {
					want := x.Search(q, 10, opts...)
					var parts []ann.Candidates
					for _, s := range shards {
						parts = append(parts, s.Candidates(q, 10, opts...))
					}
					got := ann.Merge(10, parts...)
					if !slices.Equal(got, want) {
						t.Fatalf("kind %d by %d query %d: merged %v, unsharded %v", kind, by, qi, got, want)
					}
				}
			}
		}
	}
}

func TestAddDeleteReplace(t *testing.T) {
	fs := faces(t, 3000, 32, 0)
	x := ann.New(32, ann.Euclidean, ann.WithKind(ann.Partitioned), ann.WithPartitions(20))
	x.Add(fs.Items[:2000]...)
	x.Build()
	// New items are found without a rebuild.
	x.Add(fs.Items[2000:2100]...)
	for _, it := range fs.Items[2000:2100] {
		h := x.Search(it.Vector, 1, ann.Probe(1))
		if len(h) != 1 || h[0].ID != it.ID || h[0].Distance > 1e-3 {
			t.Fatalf("added item %d not found by its own vector: %v", it.ID, h)
		}
	}
	if n := x.Delete(2000, 2001, 999999); n != 2 {
		t.Fatalf("Delete returned %d, want 2", n)
	}
	if x.Len() != 2098 {
		t.Fatalf("Len %d, want 2098", x.Len())
	}
	for _, h := range x.Search(fs.Items[2000].Vector, 50, ann.Probe(1000)) {
		if h.ID == 2000 || h.ID == 2001 {
			t.Fatalf("deleted item %d returned", h.ID)
		}
	}
	// Re-adding an id replaces it.
	moved := ann.Item{ID: 5, Label: "moved", Vector: fs.Items[2500].Vector}
	x.Add(moved)
	if x.Len() != 2098 {
		t.Fatalf("replace changed Len to %d", x.Len())
	}
	h := x.Search(moved.Vector, 2, ann.Probe(1000))
	if h[0].ID != 5 && h[1].ID != 5 || (h[0].ID == 5 && h[0].Label != "moved") {
		t.Fatalf("replaced item not found with its new vector and label: %v", h)
	}
	if err := x.Add(ann.Item{ID: 1, Vector: []float32{1}}); err == nil {
		t.Fatal("wrong dimension accepted")
	}
	if err := x.Add(ann.Item{ID: 1, Vector: make([]float32, 31)}); err == nil {
		t.Fatal("wrong dimension accepted")
	}
	nan := make([]float32, 32)
	nan[3] = float32(math.NaN())
	if err := x.Add(ann.Item{ID: 1, Vector: nan}); err == nil {
		t.Fatal("NaN accepted")
	}
}

func TestRangeAndZones(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	items := randomItems(r, 800, 16, 4)
	x := ann.New(16, ann.Euclidean)
	x.Add(items...)
	q := items[0].Vector
	all := naive(ann.Euclidean, items, q, len(items))
	const t0 = 4.5
	var want []uint64
	for _, h := range all {
		if h.Distance <= t0 {
			want = append(want, h.ID)
		}
	}
	got := x.Range(q, t0)
	if len(want) < 5 || !slices.Equal(ids(got), want) {
		t.Fatalf("Range: %d hits %v, want %d %v", len(got), ids(got), len(want), want)
	}
	for _, h := range x.Search(q, 30, ann.InZones("zone1", "zone3")) {
		if h.Label != "zone1" && h.Label != "zone3" {
			t.Fatalf("zone filter let %q through", h.Label)
		}
	}
	if h := x.Search(q, 5, ann.InZones("nope")); len(h) != 0 {
		t.Fatalf("unknown zone matched %v", h)
	}
	for _, h := range x.Range(q, t0, ann.InZones("zone2")) {
		if h.Label != "zone2" {
			t.Fatalf("range zone filter let %q through", h.Label)
		}
	}
}

func TestClassify(t *testing.T) {
	x := ann.New(2, ann.Euclidean)
	x.Add(
		ann.Item{ID: 1, Label: "a", Vector: []float32{0, 0}},
		ann.Item{ID: 2, Label: "a", Vector: []float32{0.1, 0}},
		ann.Item{ID: 3, Label: "b", Vector: []float32{1, 0}},
		ann.Item{ID: 4, Label: "b", Vector: []float32{1.1, 0}},
	)
	rule := ann.ClassifyRule{MaxDistance: 0.6, Margin: 0.1}
	c, ok := x.Classify([]float32{0.05, 0.1}, rule)
	if !ok || c.Zone != "a" || c.Votes != 2 || c.RunnerUp != "" {
		t.Fatalf("clear case: %+v %v", c, ok)
	}
	// Between a and b: both within 0.6, nearly equally near: rejected.
	c, ok = x.Classify([]float32{0.56, 0}, rule)
	if ok || c.Zone != "b" || c.RunnerUp != "a" {
		t.Fatalf("ambiguous case accepted: %+v", c)
	}
	// Nearer to b by more than the margin: accepted despite a within 0.6.
	c, ok = x.Classify([]float32{0.72, 0}, ann.ClassifyRule{MaxDistance: 0.7, Margin: 0.1})
	if !ok || c.Zone != "b" || c.RunnerUp != "a" {
		t.Fatalf("margin case: %+v %v", c, ok)
	}
	// Nothing within the threshold.
	if c, ok = x.Classify([]float32{5, 5}, rule); ok || c.Zone != "" {
		t.Fatalf("far query classified: %+v", c)
	}
	// MinVotes.
	if _, ok = x.Classify([]float32{0.05, 0.1}, ann.ClassifyRule{MaxDistance: 0.6, MinVotes: 3}); ok {
		t.Fatal("2 votes accepted with MinVotes 3")
	}
	// Zone restriction: only b competes.
	if c, ok = x.Classify([]float32{0.3, 0}, ann.ClassifyRule{MaxDistance: 0.8, Zones: []string{"b"}}); !ok || c.Zone != "b" {
		t.Fatalf("zone-restricted: %+v %v", c, ok)
	}
}

// TestConcurrentSearchAndUpdate runs searches, batches and classification
// while another goroutine adds and deletes (run with -race).
func TestConcurrentSearchAndUpdate(t *testing.T) {
	fs := faces(t, 3000, 32, 40)
	x := ann.New(32, ann.Cosine, ann.WithBruteForceBelow(1500), ann.WithThreads(2))
	x.Add(fs.Items[:1000]...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1000; i < 3000; i += 100 {
			x.Add(fs.Items[i : i+100]...)
			x.Delete(uint64(i - 500))
		}
	}()
	for {
		select {
		case <-done:
			if x.Len() != 3000-20 {
				t.Fatalf("Len %d, want 2980", x.Len())
			}
			return
		default:
		}
		for _, hs := range x.SearchBatch(fs.Queries[:8], 5) {
			if len(hs) != 5 {
				t.Fatalf("batch returned %d hits", len(hs))
			}
		}
		x.Classify(fs.Queries[9], ann.ClassifyRule{MaxDistance: 1})
	}
}

// BenchmarkExactBatch measures exact SearchBatch on one thread (50k × 512
// face-like vectors, 256 queries per op); reported as vectors·queries/s.
func BenchmarkExactBatch(b *testing.B) {
	fs := faces(b, 50000, 512, 256)
	x := ann.New(512, ann.Cosine, ann.WithKind(ann.Exact), ann.WithThreads(1))
	x.Add(fs.Items...)
	x.Build()
	b.ResetTimer()
	for b.Loop() {
		x.SearchBatch(fs.Queries, 10)
	}
	b.ReportMetric(float64(b.N)*float64(len(fs.Queries))/b.Elapsed().Seconds(), "q/s")
}
