package face

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
)

// frame is an 8-bit RGB picture, rows packed (ffmpeg's rgb24).
type frame struct {
	W, H int
	Pix  []byte
	// half is this frame box-filtered to half size, made on demand for
	// warps that shrink a lot; halfOK says it matches Pix.
	half   *frame
	halfOK bool
}

// reset marks derived data stale after Pix was overwritten.
func (f *frame) reset() { f.halfOK = false }

// halved returns f at half size (2x2 box filter), cached.
func (f *frame) halved() *frame {
	if f.halfOK {
		return f.half
	}
	w, h := f.W/2, f.H/2
	if f.half == nil || f.half.W != w || f.half.H != h {
		f.half = &frame{W: w, H: h, Pix: make([]byte, w*h*3)}
	}
	f.half.reset()
	d, s, sw := f.half.Pix, f.Pix, f.W*3
	for y := 0; y < h; y++ {
		r0 := s[2*y*sw:]
		r1 := s[(2*y+1)*sw:]
		o := d[y*w*3:]
		for x := 0; x < w; x++ {
			i := 6 * x
			o[3*x] = uint8((uint(r0[i]) + uint(r0[i+3]) + uint(r1[i]) + uint(r1[i+3]) + 2) >> 2)
			o[3*x+1] = uint8((uint(r0[i+1]) + uint(r0[i+4]) + uint(r1[i+1]) + uint(r1[i+4]) + 2) >> 2)
			o[3*x+2] = uint8((uint(r0[i+2]) + uint(r0[i+5]) + uint(r1[i+2]) + uint(r1[i+5]) + 2) >> 2)
		}
	}
	f.halfOK = true
	return f.half
}

func (f *frame) at(x, y int) (r, g, b float32) {
	i := (y*f.W + x) * 3
	return float32(f.Pix[i]), float32(f.Pix[i+1]), float32(f.Pix[i+2])
}

// toFrame converts any image to a frame, with fast paths for the types the
// standard decoders return.
func toFrame(img image.Image) *frame {
	b := img.Bounds()
	f := &frame{W: b.Dx(), H: b.Dy(), Pix: make([]byte, b.Dx()*b.Dy()*3)}
	i := 0
	switch m := img.(type) {
	case *image.YCbCr:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				f.Pix[i], f.Pix[i+1], f.Pix[i+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				i += 3
			}
		}
	case *image.RGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[(y-b.Min.Y)*m.Stride:]
			for x := 0; x < f.W; x++ {
				f.Pix[i], f.Pix[i+1], f.Pix[i+2] = row[4*x], row[4*x+1], row[4*x+2]
				i += 3
			}
		}
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				v := m.GrayAt(x, y).Y
				f.Pix[i], f.Pix[i+1], f.Pix[i+2] = v, v, v
				i += 3
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				f.Pix[i], f.Pix[i+1], f.Pix[i+2] = c.R, c.G, c.B
				i += 3
			}
		}
	}
	return f
}

// bilinear samples f at (x, y) in pixel-centre coordinates, clamping at
// the borders.
func (f *frame) bilinear(x, y float32) (r, g, b float32) {
	if x < 0 {
		x = 0
	}
	if y < 0 {
		y = 0
	}
	maxX, maxY := float32(f.W-1), float32(f.H-1)
	if x > maxX {
		x = maxX
	}
	if y > maxY {
		y = maxY
	}
	x0, y0 := int(x), int(y)
	x1, y1 := x0+1, y0+1
	if x1 >= f.W {
		x1 = f.W - 1
	}
	if y1 >= f.H {
		y1 = f.H - 1
	}
	fx, fy := x-float32(x0), y-float32(y0)
	p := f.Pix
	i00, i01 := (y0*f.W+x0)*3, (y0*f.W+x1)*3
	i10, i11 := (y1*f.W+x0)*3, (y1*f.W+x1)*3
	w00, w01 := (1-fx)*(1-fy), fx*(1-fy)
	w10, w11 := (1-fx)*fy, fx*fy
	r = w00*float32(p[i00]) + w01*float32(p[i01]) + w10*float32(p[i10]) + w11*float32(p[i11])
	g = w00*float32(p[i00+1]) + w01*float32(p[i01+1]) + w10*float32(p[i10+1]) + w11*float32(p[i11+1])
	b = w00*float32(p[i00+2]) + w01*float32(p[i01+2]) + w10*float32(p[i10+2]) + w11*float32(p[i11+2])
	return
}

// affine maps output pixel (u, v) to source (A*u + B*v + C, D*u + E*v + F),
// in pixel-centre coordinates.
type affine struct{ A, B, C, D, E, F float32 }

func (m affine) apply(u, v float32) (float32, float32) {
	return m.A*u + m.B*v + m.C, m.D*u + m.E*v + m.F
}

// scale is how many source pixels one output pixel spans.
func (m affine) scale() float32 {
	return float32(math.Sqrt(math.Abs(float64(m.A*m.E - m.B*m.D))))
}

// tensorWriter writes normalised pixels of one image into a model input.
type tensorWriter struct {
	in  Input
	dst []float32 // one image: W*H*3
}

func (t tensorWriter) set(u, v int, r, g, b float32) {
	in := t.in
	if in.Channels == "BGR" {
		r, b = b, r
	}
	r = (r - in.Mean[0]) / in.Std[0]
	g = (g - in.Mean[1]) / in.Std[1]
	b = (b - in.Mean[2]) / in.Std[2]
	if in.Layout == "NHWC" {
		i := (v*in.Width + u) * 3
		t.dst[i], t.dst[i+1], t.dst[i+2] = r, g, b
		return
	}
	plane := in.Width * in.Height
	i := v*in.Width + u
	t.dst[i], t.dst[i+plane], t.dst[i+2*plane] = r, g, b
}

// warp fills the model input with f seen through m (output -> source),
// outside pixels black. To shrink without aliasing it samples a halved
// copy of the frame (as many times as the shrink allows) and averages a
// 2 x 2 grid of bilinear samples when one output pixel still spans 1.5
// source pixels or more.
func warp(f *frame, m affine, t tensorWriter) {
	for m.scale() >= 2 && f.W >= 4 && f.H >= 4 {
		f = f.halved()
		// Source pixel centres: x_half = (x + 0.5)/2 - 0.5.
		m = affine{A: m.A / 2, B: m.B / 2, C: (m.C+0.5)/2 - 0.5, D: m.D / 2, E: m.E / 2, F: (m.F+0.5)/2 - 0.5}
	}
	n := 1
	if m.scale() >= 1.5 {
		n = 2
	}
	inv := 1 / float32(n*n)
	W, H := float32(f.W), float32(f.H)
	for v := 0; v < t.in.Height; v++ {
		for u := 0; u < t.in.Width; u++ {
			var r, g, b float32
			for j := 0; j < n; j++ {
				for i := 0; i < n; i++ {
					su := float32(u) - 0.5 + (float32(i)+0.5)/float32(n)
					sv := float32(v) - 0.5 + (float32(j)+0.5)/float32(n)
					x, y := m.apply(su, sv)
					if x < -0.5 || y < -0.5 || x > W-0.5 || y > H-0.5 {
						continue
					}
					rr, gg, bb := f.bilinear(x, y)
					r, g, b = r+rr, g+gg, b+bb
				}
			}
			t.set(u, v, r*inv, g*inv, b*inv)
		}
	}
}

// fitTransform maps a detector input onto the frame: the frame is scaled
// to fit (keeping its aspect ratio and centring it when letterbox is set)
// and the rest is padding.
func fitTransform(f *frame, in Input) affine {
	sx := float32(f.W) / float32(in.Width)
	sy := float32(f.H) / float32(in.Height)
	if !in.Letterbox {
		return affine{A: sx, C: 0.5*sx - 0.5, E: sy, F: 0.5*sy - 0.5}
	}
	s := max(sx, sy)
	// Centre: output centre maps to frame centre.
	cx := float32(f.W)/2 - s*float32(in.Width)/2
	cy := float32(f.H)/2 - s*float32(in.Height)/2
	return affine{A: s, C: cx + 0.5*s - 0.5, E: s, F: cy + 0.5*s - 0.5}
}

// cropJPEG encodes the part of f inside r (clamped), scaled down so its
// longer side is at most maxSide.
func cropJPEG(f *frame, r image.Rectangle, maxSide int) ([]byte, error) {
	r = r.Intersect(image.Rect(0, 0, f.W, f.H))
	if r.Empty() {
		return nil, nil
	}
	w, h := r.Dx(), r.Dy()
	s := float32(1)
	if m := max(w, h); m > maxSide {
		s = float32(m) / float32(maxSide)
		w, h = int(float32(w)/s+0.5), int(float32(h)/s+0.5)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	n := int(math.Ceil(float64(s)))
	inv := 1 / float32(n*n)
	for v := 0; v < h; v++ {
		for u := 0; u < w; u++ {
			var cr, cg, cb float32
			for j := 0; j < n; j++ {
				for i := 0; i < n; i++ {
					x := float32(r.Min.X) + (float32(u)+(float32(i)+0.5)/float32(n))*s - 0.5
					y := float32(r.Min.Y) + (float32(v)+(float32(j)+0.5)/float32(n))*s - 0.5
					rr, gg, bb := f.bilinear(x, y)
					cr, cg, cb = cr+rr, cg+gg, cb+bb
				}
			}
			o := img.PixOffset(u, v)
			img.Pix[o] = uint8(cr*inv + 0.5)
			img.Pix[o+1] = uint8(cg*inv + 0.5)
			img.Pix[o+2] = uint8(cb*inv + 0.5)
			img.Pix[o+3] = 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
