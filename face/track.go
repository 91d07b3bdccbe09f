package face

import (
	"image"
	"sort"
	"time"
)

// tracker groups the faces of a video's frames into people: a face joins
// the track whose mean embedding (or latest embedding) is nearest, within
// the embedder's threshold (a little more when its box overlaps the
// track's box in the previous sampled frame); otherwise it starts a track.
// At the end, tracks that never share a frame and whose means are within
// the threshold are merged (a person leaving and coming back).
type tracker struct {
	p       *Pipeline
	tracks  []*track
	nframes int
}

type track struct {
	sum       []float64
	n         int
	last      found
	lastFrame int
	first     int
	firstBox  detection
	frames    map[int]bool
	best      found
	bestFrame int
	bestCrop  *frame // copy of the best frame's crop region
	cropAt    image.Point
}

func newTracker(p *Pipeline) *tracker { return &tracker{p: p} }

func (t *tracker) mean(tr *track) []float32 {
	v := make([]float32, len(tr.sum))
	for i, s := range tr.sum {
		v[i] = float32(s / float64(tr.n))
	}
	if t.p.emb.d.Normalize {
		normalize(v)
	}
	return v
}

func (t *tracker) add(d decoded, faces []found) {
	t.nframes++
	thr := t.p.Threshold()
	type pair struct {
		f, tr int
		d     float32
	}
	var pairs []pair
	means := make([][]float32, len(t.tracks))
	for j, tr := range t.tracks {
		means[j] = t.mean(tr)
	}
	for i, f := range faces {
		for j, tr := range t.tracks {
			dist := min(t.p.Distance(f.emb, means[j]), t.p.Distance(f.emb, tr.last.emb))
			limit := thr
			if tr.lastFrame == d.index-1 && iou(f.det, tr.last.det) > 0.3 {
				limit = thr * 1.15
			}
			if dist < limit {
				pairs = append(pairs, pair{i, j, dist})
			}
		}
	}
	sort.Slice(pairs, func(a, b int) bool {
		if pairs[a].d != pairs[b].d {
			return pairs[a].d < pairs[b].d
		}
		return pairs[a].f < pairs[b].f
	})
	faceDone := make([]bool, len(faces))
	trackDone := make([]bool, len(t.tracks))
	assign := make([]int, len(faces))
	for i := range assign {
		assign[i] = -1
	}
	for _, pr := range pairs {
		if faceDone[pr.f] || trackDone[pr.tr] {
			continue
		}
		faceDone[pr.f], trackDone[pr.tr] = true, true
		assign[pr.f] = pr.tr
	}
	// New tracks in a stable order: left to right.
	order := make([]int, len(faces))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return faces[order[a]].det.X0 < faces[order[b]].det.X0 })
	for _, i := range order {
		f := faces[i]
		var tr *track
		if assign[i] >= 0 {
			tr = t.tracks[assign[i]]
		} else {
			tr = &track{sum: make([]float64, len(f.emb)), first: d.index, firstBox: f.det, frames: map[int]bool{}}
			t.tracks = append(t.tracks, tr)
		}
		v := f.emb
		if t.p.emb.d.Normalize {
			v = append([]float32(nil), v...)
			normalize(v)
		}
		for k, x := range v {
			tr.sum[k] += float64(x)
		}
		tr.n++
		tr.last, tr.lastFrame = f, d.index
		tr.frames[d.index] = true
		if tr.bestCrop == nil || f.quality > tr.best.quality {
			tr.best, tr.bestFrame = f, d.index
			tr.bestCrop, tr.cropAt = copyRegion(d.f, cropRect(f.det, d.f))
		}
	}
}

// copyRegion copies part of a frame (the frame's buffer is reused).
func copyRegion(f *frame, r image.Rectangle) (*frame, image.Point) {
	c := &frame{W: r.Dx(), H: r.Dy(), Pix: make([]byte, r.Dx()*r.Dy()*3)}
	for y := 0; y < c.H; y++ {
		src := ((r.Min.Y+y)*f.W + r.Min.X) * 3
		copy(c.Pix[y*c.W*3:(y+1)*c.W*3], f.Pix[src:src+c.W*3])
	}
	return c, r.Min
}

func disjoint(a, b map[int]bool) bool {
	for k := range a {
		if b[k] {
			return false
		}
	}
	return true
}

// faces merges tracks of the same person and returns them numbered.
func (t *tracker) faces() ([]Face, error) {
	thr := t.p.Threshold()
	for {
		bi, bj, bd := -1, -1, thr
		for i := range t.tracks {
			for j := i + 1; j < len(t.tracks); j++ {
				a, b := t.tracks[i], t.tracks[j]
				if d := t.p.Distance(t.mean(a), t.mean(b)); d < bd && disjoint(a.frames, b.frames) {
					bi, bj, bd = i, j, d
				}
			}
		}
		if bi < 0 {
			break
		}
		a, b := t.tracks[bi], t.tracks[bj]
		for k := range a.sum {
			a.sum[k] += b.sum[k]
		}
		a.n += b.n
		for k := range b.frames {
			a.frames[k] = true
		}
		if b.first < a.first || (b.first == a.first && b.firstBox.X0 < a.firstBox.X0) {
			a.first, a.firstBox = b.first, b.firstBox
		}
		if b.best.quality > a.best.quality {
			a.best, a.bestFrame, a.bestCrop, a.cropAt = b.best, b.bestFrame, b.bestCrop, b.cropAt
		}
		t.tracks = append(t.tracks[:bj], t.tracks[bj+1:]...)
	}
	sort.SliceStable(t.tracks, func(i, j int) bool {
		a, b := t.tracks[i], t.tracks[j]
		if a.first != b.first {
			return a.first < b.first
		}
		if a.firstBox.X0 != b.firstBox.X0 {
			return a.firstBox.X0 < b.firstBox.X0
		}
		return a.firstBox.Y0 < b.firstBox.Y0
	})
	out := make([]Face, len(t.tracks))
	for i, tr := range t.tracks {
		crop, err := cropJPEG(tr.bestCrop, image.Rect(0, 0, tr.bestCrop.W, tr.bestCrop.H), 256)
		if err != nil {
			return nil, err
		}
		out[i] = Face{
			ID:        faceID(i),
			Box:       tr.best.box(),
			Quality:   tr.best.quality,
			Embedding: t.mean(tr),
			Crop:      crop,
			Frames:    len(tr.frames),
			Score:     tr.best.det.Score,
			Keypoints: tr.best.points(),
			First:     time.Duration(float64(tr.first) / t.p.cfg.FPS * float64(time.Second)),
		}
	}
	return out, nil
}
