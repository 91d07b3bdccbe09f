package annbench

import (
	"math"
	"testing"
)

// TestFacesStatistics checks the generator hits its targets: genuine
// cosine about 0.68, impostor mean about 0 and spread about 0.06.
func TestFacesStatistics(t *testing.T) {
	cfg := DefaultFaces()
	cfg.N, cfg.Queries = 3000, 200
	fs, err := Faces(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs.Items) != cfg.N || len(fs.Queries) != cfg.Queries {
		t.Fatalf("got %d items, %d queries", len(fs.Items), len(fs.Queries))
	}
	var gen, imp, imp2 float64
	var ng, ni int
	for i := 0; i+1 < len(fs.Items); i++ {
		for j := i + 1; j < min(len(fs.Items), i+40); j++ {
			c := cos(fs.Items[i].Vector, fs.Items[j].Vector)
			if fs.Identity[i] == fs.Identity[j] {
				gen += c
				ng++
			} else {
				imp += c
				imp2 += c * c
				ni++
			}
		}
	}
	gen /= float64(ng)
	mean := imp / float64(ni)
	std := math.Sqrt(imp2/float64(ni) - mean*mean)
	t.Logf("genuine %.3f (%d pairs), impostor mean %.4f std %.4f (%d pairs)", gen, ng, mean, std, ni)
	if math.Abs(gen-0.68) > 0.03 || math.Abs(mean) > 0.01 || math.Abs(std-0.06) > 0.01 {
		t.Errorf("statistics off target: genuine %.3f, impostor mean %.4f std %.4f", gen, mean, std)
	}
	// Seen queries share their identity's cosine with its samples.
	var qg float64
	var nq int
	for qi, who := range fs.QueryIdentity {
		if who < 0 {
			continue
		}
		for i, id := range fs.Identity {
			if id == who {
				qg += cos(fs.Queries[qi], fs.Items[i].Vector)
				nq++
			}
		}
	}
	if nq == 0 || math.Abs(qg/float64(nq)-0.68) > 0.03 {
		t.Errorf("seen query genuine cosine %.3f over %d pairs", qg/float64(max(nq, 1)), nq)
	}
	again, _ := Faces(cfg)
	if cos(again.Items[123].Vector, fs.Items[123].Vector) < 0.99999 || cos(again.Queries[7], fs.Queries[7]) < 0.99999 {
		t.Error("same seed gave a different set")
	}
}

func cos(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}
