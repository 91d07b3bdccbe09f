package annbench

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/celebrity-zones/cz/ann"
)

// Setting is one partitioned-index search setting to measure.
type Setting struct {
	Probe  int // partitions searched (0: all)
	Rerank int
}

// Options configure Run.
type Options struct {
	K           int       // neighbours (10)
	TimeQueries int       // queries timed per setting and thread count
	Threads     []int     // thread counts timed ([1 2])
	Settings    []Setting // partitioned settings
	Index       []ann.Option
	Peers       []Peer // external indexes run on the same files
	PeerDir     string // where the files for peers go
}

// Row is one measured line.
type Row struct {
	Name                 string
	Recall1, Recall10    float64
	IdentityRecall10     float64 // NaN-free: 0 when the set has no identities
	QPS                  map[int]float64
	BuildSeconds, MemMiB float64
}

// Result is a benchmark run on one data set.
type Result struct {
	Data    string
	N, Dim  int
	Queries int
	Kernel  string
	Rows    []Row
}

// Run measures exact search and the partitioned index on items/queries.
// identity (optional) maps item ids to identities and queryIdentity gives
// each query's (-1: unseen) for identity recall.
func Run(data string, metric ann.Metric, items []ann.Item, queries [][]float32, identity func(uint64) int, queryIdentity []int, o Options, log io.Writer) (*Result, error) {
	if o.K == 0 {
		o.K = 10
	}
	if len(o.Threads) == 0 {
		o.Threads = []int{1, 2}
	}
	if o.TimeQueries == 0 || o.TimeQueries > len(queries) {
		o.TimeQueries = len(queries)
	}
	dim := len(items[0].Vector)
	res := &Result{Data: data, N: len(items), Dim: dim, Queries: len(queries), Kernel: ann.KernelName()}
	maxT := 0
	for _, t := range o.Threads {
		maxT = max(maxT, t)
	}
	timeIt := func(x *ann.Index, opts ...ann.SearchOption) float64 {
		qs := queries[:o.TimeQueries]
		t0 := time.Now()
		x.SearchBatch(qs, o.K, opts...)
		return float64(len(qs)) / time.Since(t0).Seconds()
	}

	// Exact search: ground truth and the brute-force row.
	t0 := time.Now()
	exact := ann.New(dim, metric, ann.WithKind(ann.Exact), ann.WithThreads(maxT))
	if err := exact.Add(items...); err != nil {
		return nil, err
	}
	exact.Build()
	row := Row{Name: "exact (brute force, batched)", QPS: map[int]float64{}, BuildSeconds: time.Since(t0).Seconds(), MemMiB: mib(exact.Bytes())}
	fmt.Fprintf(log, "%s: ground truth for %d queries\n", data, len(queries))
	truth := exact.SearchBatch(queries, o.K)
	row.Recall1, row.Recall10, row.IdentityRecall10 = 1, 1, -1
	if identity != nil {
		row.IdentityRecall10 = 1
	}
	for _, t := range o.Threads {
		exact.SetThreads(t)
		row.QPS[t] = timeIt(exact)
	}
	res.Rows = append(res.Rows, row)
	fmt.Fprintf(log, "%s: %s %+v\n", data, row.Name, row.QPS)
	if len(o.Peers) > 0 {
		if err := writePeerFiles(o.PeerDir, items, queries, truth); err != nil {
			return nil, err
		}
		for _, p := range o.Peers {
			rows, err := runPeer(p, o.PeerDir, o.TimeQueries, log)
			if err != nil {
				return nil, err
			}
			res.Rows = append(res.Rows, rows...)
		}
	}
	exact = nil
	runtime.GC()

	// Partitioned index.
	t0 = time.Now()
	opts := append([]ann.Option{ann.WithKind(ann.Partitioned), ann.WithThreads(maxT)}, o.Index...)
	x := ann.New(dim, metric, opts...)
	if err := x.Add(items...); err != nil {
		return nil, err
	}
	x.Build()
	build := time.Since(t0).Seconds()
	mem := mib(x.Bytes())
	fmt.Fprintf(log, "%s: partitioned build %.1fs, %.0f MiB\n", data, build, mem)
	for _, st := range o.Settings {
		so := []ann.SearchOption{ann.Rerank(st.Rerank)}
		name := fmt.Sprintf("partitioned probe all, rerank %d", st.Rerank)
		if st.Probe > 0 {
			so = append(so, ann.Probe(st.Probe))
			name = fmt.Sprintf("partitioned probe %d, rerank %d", st.Probe, st.Rerank)
		} else {
			so = append(so, ann.Probe(1<<30))
		}
		x.SetThreads(maxT)
		got := x.SearchBatch(queries, o.K, so...)
		r := Row{Name: name, QPS: map[int]float64{}, BuildSeconds: build, MemMiB: mem,
			Recall1: RecallAtK(truth, got, 1), Recall10: RecallAtK(truth, got, o.K), IdentityRecall10: -1}
		if identity != nil {
			r.IdentityRecall10 = IdentityRecall(truth, got, o.K, queryIdentity, identity)
		}
		for _, t := range o.Threads {
			x.SetThreads(t)
			r.QPS[t] = timeIt(x, so...)
		}
		fmt.Fprintf(log, "%s: %s r@1 %.3f r@10 %.3f id@10 %.3f %+v\n", data, name, r.Recall1, r.Recall10, r.IdentityRecall10, r.QPS)
		res.Rows = append(res.Rows, r)
	}
	return res, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// Markdown writes the result as a table.
func (r *Result) Markdown(w io.Writer, threads []int) {
	fmt.Fprintf(w, "\n%s: %d x %d, %d queries, kernels %s\n\n", r.Data, r.N, r.Dim, r.Queries, r.Kernel)
	fmt.Fprintf(w, "| index | recall@1 | recall@10 | identity-recall@10 |")
	for _, t := range threads {
		fmt.Fprintf(w, " q/s %d thr |", t)
	}
	fmt.Fprintf(w, " build s | memory MiB |\n|---|---|---|---|")
	for range threads {
		fmt.Fprintf(w, "---|")
	}
	fmt.Fprintf(w, "---|---|\n")
	for _, row := range r.Rows {
		idr := "-"
		if row.IdentityRecall10 >= 0 {
			idr = fmt.Sprintf("%.3f", row.IdentityRecall10)
		}
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %s |", row.Name, row.Recall1, row.Recall10, idr)
		for _, t := range threads {
			fmt.Fprintf(w, " %.0f |", row.QPS[t])
		}
		fmt.Fprintf(w, " %.1f | %.0f |\n", row.BuildSeconds, row.MemMiB)
	}
}
