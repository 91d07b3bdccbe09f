package face

import (
	"fmt"
	"math"
)

type embedder struct {
	d     *Descriptor
	s     *session
	clock *busyClock
	batch int
}

// alignment returns the map from embedder input pixels to frame pixels
// for one detection: a least-squares similarity transform from the
// template keypoints onto the detected ones (both pixel-centre), or from
// the template box onto the detected box when they share fewer than two
// keypoints.
func alignment(det detection, names []string, e *Descriptor) affine {
	found := map[string][2]float32{}
	for i, n := range names {
		if i < len(det.Points) {
			found[n] = [2]float32{det.Points[i][0] - 0.5, det.Points[i][1] - 0.5}
		}
	}
	addMouth(found)
	tmpl := e.Template
	if _, ok := tmpl["mouth"]; !ok {
		tmpl = map[string][2]float32{}
		for k, v := range e.Template {
			tmpl[k] = v
		}
		addMouth(tmpl)
	}
	var src, dst [][2]float32 // src: template, dst: frame
	corners := 0
	for _, n := range keypointNames {
		t, ok1 := tmpl[n]
		p, ok2 := found[n]
		if n == "left_mouth" || n == "right_mouth" {
			if ok1 && ok2 {
				corners++
			}
		}
		if n == "mouth" && corners == 2 {
			continue // the corners already place the mouth
		}
		if ok1 && ok2 {
			src = append(src, t)
			dst = append(dst, p)
		}
	}
	if len(src) < 2 {
		tb := e.TemplateBox
		src = [][2]float32{{tb[0], tb[1]}, {tb[2], tb[3]}}
		dst = [][2]float32{{det.X0 - 0.5, det.Y0 - 0.5}, {det.X1 - 0.5, det.Y1 - 0.5}}
	}
	return similarity(src, dst)
}

// keypointNames are the names alignment knows (the mouth centre counts
// only when the two corners are not both available).
var keypointNames = []string{"left_eye", "right_eye", "nose", "left_mouth", "right_mouth", "mouth", "left_ear", "right_ear"}

// addMouth derives the mouth centre from the mouth corners.
func addMouth(m map[string][2]float32) {
	l, ok1 := m["left_mouth"]
	r, ok2 := m["right_mouth"]
	if _, ok := m["mouth"]; !ok && ok1 && ok2 {
		m["mouth"] = [2]float32{(l[0] + r[0]) / 2, (l[1] + r[1]) / 2}
	}
}

// similarity fits dst ~ s*R*src + t (no reflection) by least squares.
func similarity(src, dst [][2]float32) affine {
	n := float64(len(src))
	var mx, my, nx, ny float64
	for i := range src {
		mx += float64(src[i][0])
		my += float64(src[i][1])
		nx += float64(dst[i][0])
		ny += float64(dst[i][1])
	}
	mx, my, nx, ny = mx/n, my/n, nx/n, ny/n
	var a, b, q float64
	for i := range src {
		sx, sy := float64(src[i][0])-mx, float64(src[i][1])-my
		dx, dy := float64(dst[i][0])-nx, float64(dst[i][1])-ny
		a += sx*dx + sy*dy
		b += sx*dy - sy*dx
		q += sx*sx + sy*sy
	}
	if q == 0 {
		return affine{A: 1, E: 1}
	}
	a, b = a/q, b/q
	// x' = a*x - b*y + tx ; y' = b*x + a*y + ty
	tx := nx - (a*mx - b*my)
	ty := ny - (b*mx + a*my)
	return affine{A: float32(a), B: float32(-b), C: float32(tx), D: float32(b), E: float32(a), F: float32(ty)}
}

// embed aligns and embeds faces, batch by batch.
func (e *embedder) embed(items []embedItem) ([][]float32, error) {
	in := e.d.Input
	size := in.Width * in.Height * 3
	out := make([][]float32, 0, len(items))
	step := e.batch
	if in.MaxBatch > 0 && step > in.MaxBatch {
		step = in.MaxBatch
	}
	buf := make([]float32, min(step, len(items))*size)
	for lo := 0; lo < len(items); lo += step {
		batch := items[lo:min(lo+step, len(items))]
		for i, it := range batch {
			warp(it.f, it.m, tensorWriter{in: in, dst: buf[i*size : (i+1)*size]})
		}
		vecs, err := e.run(len(batch), buf[:len(batch)*size])
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// run embeds n prepared (normalised) inputs.
func (e *embedder) run(n int, data []float32) ([][]float32, error) {
	in := e.d.Input
	shape := []int64{int64(n), 3, int64(in.Height), int64(in.Width)}
	if in.Layout == "NHWC" {
		shape = []int64{int64(n), int64(in.Height), int64(in.Width), 3}
	}
	res, shapes, err := e.s.run(e.clock, shape, data)
	if err != nil {
		return nil, err
	}
	dim := e.d.Dim
	if s := shapes[0]; len(s) < 2 || s[0] != int64(n) || s[len(s)-1] != int64(dim) || int64(len(res[0])) != int64(n*dim) {
		return nil, fmt.Errorf("embedder %s: output shape %v, want [%d,%d]", e.d.Name, shapes[0], n, dim)
	}
	out := make([][]float32, n)
	for i := range out {
		v := res[0][i*dim : (i+1)*dim : (i+1)*dim]
		if e.d.Normalize {
			normalize(v)
		}
		out[i] = v
	}
	return out, nil
}

type embedItem struct {
	f *frame
	m affine
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}

// EuclideanDistance is |a - b|.
func EuclideanDistance(a, b []float32) float32 {
	var s float32
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return float32(math.Sqrt(float64(s)))
}

// CosineDistance is 1 - cos(a, b).
func CosineDistance(a, b []float32) float32 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		return 1
	}
	return float32(1 - ab/math.Sqrt(aa*bb))
}
