package annx

import (
	"testing"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/ann/annbench"
)

func TestAniso(t *testing.T) {
	cfg := annbench.DefaultFaces()
	cfg.N, cfg.Queries = 50000, 1000
	fs, _ := annbench.Faces(cfg)
	ex := ann.New(512, ann.Cosine, ann.WithKind(ann.Exact))
	ex.Add(fs.Items...)
	want := ex.SearchBatch(fs.Queries, 10)
	for _, T := range []float32{0, 0.1, 0.2, 0.3} {
		x := ann.New(512, ann.Cosine, ann.WithKind(ann.Partitioned), ann.WithAnisotropic(T))
		x.Add(fs.Items...)
		x.Build()
		for _, r := range []int{20, 50} {
			got := x.SearchBatch(fs.Queries, 10, ann.Rerank(r))
			t.Logf("T %.1f rerank %d: r@1 %.3f r@10 %.3f", T, r, annbench.RecallAtK(want, got, 1), annbench.RecallAtK(want, got, 10))
		}
	}
}
