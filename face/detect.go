package face

import (
	"fmt"
	"math"
	"sort"
)

// detection is one face found by the detector, in frame pixels.
type detection struct {
	X0, Y0, X1, Y1 float32
	Score          float32
	Points         [][2]float32 // keypoints, in the detector descriptor's order
}

func (d detection) area() float32 { return max(0, d.X1-d.X0) * max(0, d.Y1-d.Y0) }

func iou(a, b detection) float32 {
	x0, y0 := max(a.X0, b.X0), max(a.Y0, b.Y0)
	x1, y1 := min(a.X1, b.X1), min(a.Y1, b.Y1)
	inter := max(0, x1-x0) * max(0, y1-y0)
	u := a.area() + b.area() - inter
	if u <= 0 {
		return 0
	}
	return inter / u
}

type detector struct {
	d     *Descriptor
	s     *session
	clock *busyClock
	// anchors for "blazeface": centres in 0..1
	anchors [][2]float32
}

func newDetector(d *Descriptor, s *session, clock *busyClock) *detector {
	det := &detector{d: d, s: s, clock: clock}
	for _, l := range d.Anchors {
		for y := 0; y < l.Grid; y++ {
			for x := 0; x < l.Grid; x++ {
				for k := 0; k < l.PerCell; k++ {
					det.anchors = append(det.anchors, [2]float32{(float32(x) + 0.5) / float32(l.Grid), (float32(y) + 0.5) / float32(l.Grid)})
				}
			}
		}
	}
	return det
}

// detBatch is a batch of frames prepared for the detector.
type detBatch struct {
	frames []decoded
	maps   []affine // detector input -> frame
	buf    []float32
}

// prepare resizes frames (at most the model's largest batch) into a
// detector input.
func (det *detector) prepare(frames []decoded) *detBatch {
	in := det.d.Input
	size := in.Width * in.Height * 3
	b := &detBatch{frames: frames, maps: make([]affine, len(frames)), buf: make([]float32, len(frames)*size)}
	for i, d := range frames {
		b.maps[i] = fitTransform(d.f, in)
		warp(d.f, b.maps[i], tensorWriter{in: in, dst: b.buf[i*size : (i+1)*size]})
	}
	return b
}

// run detects the faces of a prepared batch, per frame, in frame pixels.
func (det *detector) run(b *detBatch) ([][]detection, error) {
	in := det.d.Input
	n := int64(len(b.frames))
	shape := []int64{n, 3, int64(in.Height), int64(in.Width)}
	if in.Layout == "NHWC" {
		shape = []int64{n, int64(in.Height), int64(in.Width), 3}
	}
	res, shapes, err := det.s.run(det.clock, shape, b.buf)
	if err != nil {
		return nil, err
	}
	out := make([][]detection, len(b.frames))
	for i, d := range b.frames {
		var dets []detection
		switch det.d.Decode {
		case "blazeface":
			dets, err = det.decodeBlazeFace(res, shapes, i)
		case "boxes-scores":
			dets, err = det.decodeBoxesScores(res, shapes, i)
		}
		if err != nil {
			return nil, err
		}
		dets = blendNMS(dets, det.d.NMSThreshold)
		for j := range dets {
			dets[j] = toFrameCoords(dets[j], b.maps[i], in, d.f)
		}
		out[i] = dets
	}
	return out, nil
}

// detect runs the detector on frames, split by the model's largest batch.
func (det *detector) detect(frames []*frame) ([][]detection, error) {
	step := len(frames)
	if mb := det.d.Input.MaxBatch; mb > 0 && step > mb {
		step = mb
	}
	var out [][]detection
	for lo := 0; lo < len(frames); lo += step {
		var group []decoded
		for _, f := range frames[lo:min(lo+step, len(frames))] {
			group = append(group, decoded{f: f})
		}
		dets, err := det.run(det.prepare(group))
		if err != nil {
			return nil, err
		}
		out = append(out, dets...)
	}
	return out, nil
}

func sigmoid(x float32) float32 {
	x = min(max(x, -100), 100)
	return 1 / (1 + float32(math.Exp(float64(-x))))
}

// decodeBlazeFace decodes MediaPipe's SSD outputs: per anchor a score
// logit and [dx, dy, w, h, kx0, ky0, ...] in input pixels relative to the
// anchor centre. Coordinates come out in input pixels.
func (det *detector) decodeBlazeFace(res [][]float32, shapes [][]int64, item int) ([]detection, error) {
	in := det.d.Input
	nk := len(det.d.Keypoints)
	var dets []detection
	a := 0
	for l, layer := range det.d.Anchors {
		scores, regs := res[2*l], res[2*l+1]
		n := layer.Grid * layer.Grid * layer.PerCell
		sShape, rShape := shapes[2*l], shapes[2*l+1]
		if len(sShape) != 3 || sShape[1] != int64(n) || len(rShape) != 3 || rShape[1] != int64(n) || rShape[2] < int64(4+2*nk) {
			return nil, fmt.Errorf("detector %s: outputs %v and %v do not match anchor layer %d (%d anchors, %d keypoints)", det.d.Name, sShape, rShape, l, n, nk)
		}
		stride := int(rShape[2])
		scores = scores[item*n : (item+1)*n]
		regs = regs[item*n*stride : (item+1)*n*stride]
		w, h := float32(in.Width), float32(in.Height)
		for k := 0; k < n; k++ {
			sc := sigmoid(scores[k])
			if sc < det.d.ScoreThreshold {
				continue
			}
			r := regs[k*stride:]
			cx := det.anchors[a+k][0]*w + r[0]
			cy := det.anchors[a+k][1]*h + r[1]
			bw, bh := r[2], r[3]
			d := detection{X0: cx - bw/2, Y0: cy - bh/2, X1: cx + bw/2, Y1: cy + bh/2, Score: sc, Points: make([][2]float32, nk)}
			for p := 0; p < nk; p++ {
				d.Points[p] = [2]float32{det.anchors[a+k][0]*w + r[4+2*p], det.anchors[a+k][1]*h + r[5+2*p]}
			}
			dets = append(dets, d)
		}
		a += n
	}
	return dets, nil
}

// decodeBoxesScores reads corner boxes in 0..1 and per-class scores (the
// face class is the last one), and, given a third output, keypoints
// [N,A,2K] in 0..1.
func (det *detector) decodeBoxesScores(res [][]float32, shapes [][]int64, item int) ([]detection, error) {
	in := det.d.Input
	bShape, sShape := shapes[0], shapes[1]
	if len(bShape) != 3 || bShape[2] != 4 || len(sShape) != 3 || sShape[1] != bShape[1] {
		return nil, fmt.Errorf("detector %s: outputs %v and %v are not boxes [N,A,4] and scores [N,A,C]", det.d.Name, bShape, sShape)
	}
	n, c := int(bShape[1]), int(sShape[2])
	boxes := res[0][item*n*4 : (item+1)*n*4]
	scores := res[1][item*n*c : (item+1)*n*c]
	nk := len(det.d.Keypoints)
	var kps []float32
	if len(res) > 2 {
		kShape := shapes[2]
		if len(kShape) != 3 || kShape[1] != bShape[1] || kShape[2] != int64(2*nk) {
			return nil, fmt.Errorf("detector %s: keypoint output %v, want [N,%d,%d]", det.d.Name, kShape, n, 2*nk)
		}
		kps = res[2][item*n*2*nk : (item+1)*n*2*nk]
	}
	w, h := float32(in.Width), float32(in.Height)
	var dets []detection
	for k := 0; k < n; k++ {
		sc := scores[k*c+c-1]
		if sc < det.d.ScoreThreshold {
			continue
		}
		b := boxes[k*4:]
		d := detection{X0: b[0] * w, Y0: b[1] * h, X1: b[2] * w, Y1: b[3] * h, Score: sc}
		if kps != nil {
			d.Points = make([][2]float32, nk)
			for p := range d.Points {
				d.Points[p] = [2]float32{kps[(k*nk+p)*2] * w, kps[(k*nk+p)*2+1] * h}
			}
		}
		dets = append(dets, d)
	}
	return dets, nil
}

// blendNMS removes overlapping detections, replacing each cluster by the
// score-weighted mean of its members (MediaPipe's "weighted" NMS) with the
// best member's score.
func blendNMS(dets []detection, thr float32) []detection {
	sort.SliceStable(dets, func(i, j int) bool { return dets[i].Score > dets[j].Score })
	used := make([]bool, len(dets))
	var out []detection
	for i := range dets {
		if used[i] {
			continue
		}
		best := dets[i]
		acc := detection{Points: make([][2]float32, len(best.Points))}
		var wsum float32
		for j := i; j < len(dets); j++ {
			if used[j] || (j != i && iou(best, dets[j]) < thr) {
				continue
			}
			used[j] = true
			w := dets[j].Score
			wsum += w
			acc.X0 += w * dets[j].X0
			acc.Y0 += w * dets[j].Y0
			acc.X1 += w * dets[j].X1
			acc.Y1 += w * dets[j].Y1
			for p := range acc.Points {
				acc.Points[p][0] += w * dets[j].Points[p][0]
				acc.Points[p][1] += w * dets[j].Points[p][1]
			}
		}
		acc.X0, acc.Y0, acc.X1, acc.Y1 = acc.X0/wsum, acc.Y0/wsum, acc.X1/wsum, acc.Y1/wsum
		for p := range acc.Points {
			acc.Points[p][0] /= wsum
			acc.Points[p][1] /= wsum
		}
		acc.Score = best.Score
		out = append(out, acc)
	}
	return out
}

// toFrameCoords maps a detection from detector input pixels (edges, so
// pixel centres are at +0.5) to frame pixels, clamping the box.
func toFrameCoords(d detection, m affine, in Input, f *frame) detection {
	edge := func(x, y float32) (float32, float32) {
		fx, fy := m.apply(x-0.5, y-0.5)
		return fx + 0.5, fy + 0.5
	}
	d.X0, d.Y0 = edge(d.X0, d.Y0)
	d.X1, d.Y1 = edge(d.X1, d.Y1)
	d.X0, d.Y0 = max(d.X0, 0), max(d.Y0, 0)
	d.X1, d.Y1 = min(d.X1, float32(f.W)), min(d.Y1, float32(f.H))
	for p := range d.Points {
		d.Points[p][0], d.Points[p][1] = edge(d.Points[p][0], d.Points[p][1])
	}
	return d
}
