package annx

import (
	"encoding/binary"
	"math"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/ann/annbench"
)

func load(t *testing.T) *annbench.FaceSet {
	const file = "/tmp/faces200k.bin"
	cfg := annbench.DefaultFaces()
	cfg.Queries = 2000
	if data, err := os.ReadFile(file); err == nil {
		fs := &annbench.FaceSet{}
		f := func(off int) []float32 {
			v := make([]float32, 512)
			for j := range v {
				v[j] = math.Float32frombits(binary.LittleEndian.Uint32(data[(off*512+j)*4:]))
			}
			return v
		}
		for i := range cfg.N {
			fs.Items = append(fs.Items, ann.Item{ID: uint64(i), Vector: f(i)})
		}
		for i := range cfg.Queries {
			fs.Queries = append(fs.Queries, f(cfg.N+i))
		}
		return fs
	}
	fs, _ := annbench.Faces(cfg)
	var buf []byte
	for _, it := range fs.Items {
		for _, x := range it.Vector {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	for _, q := range fs.Queries {
		for _, x := range q {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	os.WriteFile(file, buf, 0o644)
	return fs
}

func TestProfile(t *testing.T) {
	fs := load(t)
	qs := fs.Queries[:1000]
	mode := os.Getenv("MODE")
	if mode == "exact" || mode == "" {
		ex := ann.New(512, ann.Cosine, ann.WithKind(ann.Exact), ann.WithThreads(1))
		ex.Add(fs.Items...)
		t0 := time.Now()
		ex.SearchBatch(qs[:256], 10)
		t.Logf("exact 1 thread: %.0f q/s", 256/time.Since(t0).Seconds())
	}
	if mode == "part" || mode == "" {
		x := ann.New(512, ann.Cosine, ann.WithKind(ann.Partitioned), ann.WithThreads(1))
		x.Add(fs.Items...)
		t0 := time.Now()
		pf, _ := os.Create("/tmp/build.prof")
		pprof.StartCPUProfile(pf)
		x.Build()
		pprof.StopCPUProfile()
		t.Logf("build 1 thread: %v", time.Since(t0))
		pf, _ = os.Create("/tmp/search.prof")
		pprof.StartCPUProfile(pf)
		for rep := 0; rep < 2; rep++ {
			for _, r := range []int{50} {
				t0 = time.Now()
				x.SearchBatch(qs, 10, ann.Probe(1<<20), ann.Rerank(r))
				t.Logf("batch probe all rerank %d 1 thread: %.0f q/s", r, float64(len(qs))/time.Since(t0).Seconds())
				t0 = time.Now()
				for _, q := range qs {
					x.Search(q, 10, ann.Probe(1<<20), ann.Rerank(r))
				}
				t.Logf("single probe all rerank %d 1 thread: %.0f q/s", r, float64(len(qs))/time.Since(t0).Seconds())
			}
		}
		pprof.StopCPUProfile()
	}
}
