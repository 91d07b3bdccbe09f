package ann

import (
	"math/rand/v2"
	"testing"
)

// TestAddWithoutRebuildThenRetrainOnDrift: adds are encoded into the
// trained model; doubling the set makes the next search retrain.
func TestAddWithoutRebuildThenRetrainOnDrift(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	mk := func(from, n int) []Item {
		out := make([]Item, n)
		for i := range out {
			out[i] = Item{ID: uint64(from + i), Vector: randVec(r, 24)}
		}
		return out
	}
	x := New(24, Cosine, WithBruteForceBelow(1000))
	x.Add(mk(0, 500)...)
	x.Build()
	if x.ivf != nil {
		t.Fatal("500 items below the 1000 threshold got partitioned")
	}
	x.Add(mk(500, 1000)...)
	x.Search(randVec(r, 24), 3)
	trained := x.ivf
	if trained == nil || x.trained != 1500 {
		t.Fatalf("1500 items: partitioned=%v trained=%d", trained != nil, x.trained)
	}
	x.Add(mk(1500, 1000)...)
	x.Search(randVec(r, 24), 3)
	if x.ivf != trained {
		t.Fatal("adding 2/3 more retrained; it should encode into the model")
	}
	if n := len(x.ivf.lists[x.ivf.nearest(x.vec(2400))].slots); n == 0 {
		t.Fatal("added item not in its partition")
	}
	x.Add(mk(2500, 600)...) // 3100 > 2*1500: drift
	x.Search(randVec(r, 24), 3)
	if x.ivf == trained || x.trained != 3100 {
		t.Fatalf("doubling did not retrain (trained=%d)", x.trained)
	}
	// Deleting most items compacts and falls back to exact search.
	ids := make([]uint64, 2500)
	for i := range ids {
		ids[i] = uint64(i)
	}
	x.Delete(ids...)
	x.Build()
	if x.ivf != nil || len(x.ids) != 600 || x.Len() != 600 {
		t.Fatalf("after deleting to 600: partitioned=%v slots=%d", x.ivf != nil, len(x.ids))
	}
}
