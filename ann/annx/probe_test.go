package annx

import (
	"testing"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/ann/annbench"
)

func TestProbeRecall(t *testing.T) {
	cfg := annbench.DefaultFaces()
	cfg.N, cfg.Queries = 50000, 500
	fs, _ := annbench.Faces(cfg)
	ex := ann.New(512, ann.Cosine, ann.WithKind(ann.Exact))
	ex.Add(fs.Items...)
	want := ex.SearchBatch(fs.Queries, 10)
	for _, sub := range []int{2, 4} {
		x := ann.New(512, ann.Cosine, ann.WithKind(ann.Partitioned), ann.WithSubspaceDims(sub))
		x.Add(fs.Items...)
		x.Build()
		for _, p := range []int{25, 50, 112, 224} {
			for _, r := range []int{50, 100, 200} {
				got := x.SearchBatch(fs.Queries, 10, ann.Probe(p), ann.Rerank(r))
				t.Logf("sub %d probe %d rerank %d: r@10 %.3f", sub, p, r, annbench.RecallAtK(want, got, 10))
			}
		}
	}
}
