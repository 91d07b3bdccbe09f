package face

import (
	"context"
	"fmt"
	"image"
	"sort"
	"testing"

	"github.com/celebrity-zones/cz/internal/testenv"
)

// labelled is one embedded face with its identity.
type labelled struct {
	who string
	emb []float32
}

// leaveOneOut returns how many faces have, as nearest other face, one of
// the same identity.
func leaveOneOut(p *Pipeline, faces []labelled) (hits int, misses []string) {
	for i, a := range faces {
		best, bestD := -1, float32(0)
		for j, b := range faces {
			if i == j {
				continue
			}
			if d := p.Distance(a.emb, b.emb); best < 0 || d < bestD {
				best, bestD = j, d
			}
		}
		if faces[best].who == a.who {
			hits++
		} else {
			misses = append(misses, a.who+" -> "+faces[best].who)
		}
	}
	return hits, misses
}

// pairAccuracy is the fraction of pairs the threshold classifies right,
// with the genuine and impostor distance ranges.
func pairAccuracy(p *Pipeline, faces []labelled) (acc float64, genuineMax, impostorMin float32) {
	right, total := 0, 0
	impostorMin = 1e9
	for i := range faces {
		for j := i + 1; j < len(faces); j++ {
			d := p.Distance(faces[i].emb, faces[j].emb)
			same := faces[i].who == faces[j].who
			if same {
				genuineMax = max(genuineMax, d)
			} else {
				impostorMin = min(impostorMin, d)
			}
			if (d < p.Threshold()) == same {
				right++
			}
			total++
		}
	}
	return float64(right) / float64(total), genuineMax, impostorMin
}

// TestJohns runs the whole pipeline (detect, align, embed) on dlib's 55
// aligned chips of 5 people, each padded so the detector sees a head.
func TestJohns(t *testing.T) {
	p := testPipeline(t)
	var faces []labelled
	for who, files := range johns(t) {
		for _, file := range files {
			got, err := p.ImageFaces(context.Background(), padImage(loadImage(t, file), 75))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%s: %d faces, want 1", file, len(got))
			}
			faces = append(faces, labelled{who, got[0].Embedding})
		}
	}
	hits, misses := leaveOneOut(p, faces)
	acc, gmax, imin := pairAccuracy(p, faces)
	t.Logf("johns: leave-one-out 1-NN %d/%d; pair accuracy at %.2f: %.4f (genuine max %.3f, impostor min %.3f)",
		hits, len(faces), p.Threshold(), acc, gmax, imin)
	if hits != len(faces) {
		t.Errorf("leave-one-out identification %d/%d, want all; misses %v", hits, len(faces), misses)
	}
	if acc < 0.95 {
		t.Errorf("pair accuracy %.4f at threshold %.2f, want >= 0.95", acc, p.Threshold())
	}
}

// baldGuys is the identity of each of the 24 faces of dlib's
// bald_guys.jpg collage, by face centre (pixels of the 1986x1545 image),
// labelled by hand.
var baldGuys = []struct {
	who  string
	x, y int
}{
	{"diesel", 134, 165}, {"diesel", 135, 468}, {"diesel", 152, 1388}, {"diesel", 381, 302}, {"diesel", 639, 194}, {"diesel", 648, 529},
	{"statham", 142, 785}, {"statham", 384, 106}, {"statham", 393, 536}, {"statham", 488, 947}, {"statham", 953, 194}, {"statham", 957, 495},
	{"willis", 124, 1071}, {"willis", 460, 1355}, {"willis", 845, 1333}, {"willis", 853, 918}, {"willis", 1150, 858}, {"willis", 1190, 1155},
	{"johnson", 1155, 1401}, {"johnson", 1506, 1406}, {"johnson", 1591, 274}, {"johnson", 1690, 754}, {"johnson", 1870, 1409}, {"johnson", 1880, 501},
}

func TestBaldGuys(t *testing.T) {
	p := testPipeline(t)
	got, err := p.ImageFaces(context.Background(), loadImage(t, testenv.Path(t, "dlib/examples/faces/bald_guys.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	var faces []labelled
	used := map[int]bool{}
	for _, g := range baldGuys {
		hit := -1
		for i, f := range got {
			c := image.Pt((f.Box.Min.X+f.Box.Max.X)/2, (f.Box.Min.Y+f.Box.Max.Y)/2)
			if !used[i] && abs(c.X-g.x) < 60 && abs(c.Y-g.y) < 60 {
				hit = i
			}
		}
		if hit < 0 {
			t.Logf("missed %s at (%d,%d)", g.who, g.x, g.y)
			continue
		}
		used[hit] = true
		faces = append(faces, labelled{g.who, got[hit].Embedding})
	}
	t.Logf("bald_guys: %d faces found, %d of %d labelled faces detected, %d false detections",
		len(got), len(faces), len(baldGuys), len(got)-len(used))
	if len(faces) < 23 {
		t.Errorf("detection recall %d/24, want >= 23", len(faces))
	}
	if fp := len(got) - len(used); fp > 1 {
		t.Errorf("%d detections match no face", fp)
	}
	hits, misses := leaveOneOut(p, faces)
	acc, gmax, imin := pairAccuracy(p, faces)
	t.Logf("bald_guys: leave-one-out 1-NN %d/%d; pair accuracy at %.2f: %.4f (genuine max %.3f, impostor min %.3f)",
		hits, len(faces), p.Threshold(), acc, gmax, imin)
	if hits != len(faces) {
		t.Errorf("leave-one-out identification %d/%d, want all; misses %v", hits, len(faces), misses)
	}
	if acc < 0.9 {
		t.Errorf("pair accuracy %.4f at threshold %.2f, want >= 0.9", acc, p.Threshold())
	}
	// Numbering is left to right.
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Box.Min.X < got[j].Box.Min.X }) {
		t.Error("faces are not numbered left to right")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestConcurrentUse runs ImageFaces from several goroutines on one
// pipeline: results must equal the serial ones.
func TestConcurrentUse(t *testing.T) {
	p := testPipeline(t)
	var imgs []image.Image
	for _, files := range johns(t) {
		imgs = append(imgs, padImage(loadImage(t, files[0]), 75))
	}
	want := make([][]float32, len(imgs))
	for i, img := range imgs {
		got, err := p.ImageFaces(context.Background(), img)
		if err != nil || len(got) != 1 {
			t.Fatalf("image %d: %d faces, %v", i, len(got), err)
		}
		want[i] = got[0].Embedding
	}
	errs := make(chan error, len(imgs))
	for i, img := range imgs {
		go func() {
			got, err := p.ImageFaces(context.Background(), img)
			if err == nil && (len(got) != 1 || p.Distance(got[0].Embedding, want[i]) > 1e-5) {
				err = fmt.Errorf("image %d: concurrent result differs from serial", i)
			}
			errs <- err
		}()
	}
	for range imgs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
