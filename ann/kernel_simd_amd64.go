//go:build goexperiment.simd && amd64

package ann

import (
	"simd/archsimd"
	"unsafe"
)

func init() {
	switch {
	case archsimd.X86.AVX512():
		dot, l2sq, dot4Tile, scanPQ4, kernelID = dotAVX512, l2sqAVX512, dot4TileAVX512, scanPQ4AVX512, "avx512"
		if archsimd.X86.AVX512GFNI() {
			scanPQ4 = scanPQ4GFNI
		}
	case archsimd.X86.AVX2():
		dot, l2sq, dot4Tile, scanPQ4, kernelID = dotAVX2, l2sqAVX2, dot4TileAVX2, scanPQ4AVX2, "avx2"
	}
}

func finish16(acc *[16]float32, a, b []float32, n int, sq bool) float32 {
	for i := n; i < len(a); i++ {
		if sq {
			d := a[i] - b[i]
			acc[i-n] += float32(d * d)
		} else {
			acc[i-n] += float32(a[i] * b[i])
		}
	}
	return reduce16(acc)
}

// f16 loads 16 floats at element i of p (bounds checked by the caller).
func f16(p unsafe.Pointer, i int) archsimd.Float32x16 {
	return archsimd.LoadFloat32x16((*[16]float32)(unsafe.Add(p, i*4)))
}

func f8(p unsafe.Pointer, i int) archsimd.Float32x8 {
	return archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(p, i*4)))
}

// sum16 reduces the 16 lanes in reduce16's order (halves, then quarters).
func sum16(acc archsimd.Float32x16) float32 {
	h := acc.GetLo().Add(acc.GetHi())
	q := h.GetLo().Add(h.GetHi())
	var s [4]float32
	q.Store(&s)
	return (s[0] + s[2]) + (s[1] + s[3])
}

func sum8x2(lo, hi archsimd.Float32x8) float32 {
	h := lo.Add(hi)
	q := h.GetLo().Add(h.GetHi())
	var s [4]float32
	q.Store(&s)
	return (s[0] + s[2]) + (s[1] + s[3])
}

func dotAVX512(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	b = b[:len(a)]
	pa, pb := unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0])
	var acc archsimd.Float32x16
	n := len(a) &^ 15
	for i := 0; i < n; i += 16 {
		acc = acc.Add(f16(pa, i).Mul(f16(pb, i)))
	}
	if n == len(a) {
		return sum16(acc)
	}
	var s [16]float32
	acc.Store(&s)
	return finish16(&s, a, b, n, false)
}

func l2sqAVX512(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	b = b[:len(a)]
	pa, pb := unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0])
	var acc archsimd.Float32x16
	n := len(a) &^ 15
	for i := 0; i < n; i += 16 {
		d := f16(pa, i).Sub(f16(pb, i))
		acc = acc.Add(d.Mul(d))
	}
	if n == len(a) {
		return sum16(acc)
	}
	var s [16]float32
	acc.Store(&s)
	return finish16(&s, a, b, n, true)
}

// Lane indices for reduce4x16 (VPERMT2PS / VPERMPS operands).
var (
	redLo8  = [16]uint32{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}
	redHi8  = [16]uint32{8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}
	redLo4  = [16]uint32{0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27}
	redHi4  = [16]uint32{4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31}
	redSwap = [16]uint32{2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13}
	redEven = [16]uint32{0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12}
	redOdd  = [16]uint32{1, 5, 9, 13, 1, 5, 9, 13, 1, 5, 9, 13, 1, 5, 9, 13}
)

func u32x16(p *[16]uint32) archsimd.Uint32x16 { return archsimd.LoadUint32x16(p) }

// reduce4x16 sums the lanes of four accumulators at once, each in
// reduce16's order (lane l with l+8, then l with l+4, then
// (s0+s2)+(s1+s3)): the same additions as four sum16 calls, transposed.
func reduce4x16(a0, a1, a2, a3 archsimd.Float32x16) archsimd.Float32x4 {
	lo8, hi8 := u32x16(&redLo8), u32x16(&redHi8)
	x := a0.ConcatPermute(a1, lo8).Add(a0.ConcatPermute(a1, hi8)) // halves of a0 | a1
	y := a2.ConcatPermute(a3, lo8).Add(a2.ConcatPermute(a3, hi8))
	z := x.ConcatPermute(y, u32x16(&redLo4)).Add(x.ConcatPermute(y, u32x16(&redHi4))) // quarters of a0..a3
	p := z.Add(z.Permute(u32x16(&redSwap)))                                           // s0+s2, s1+s3
	r := p.Permute(u32x16(&redEven)).Add(p.Permute(u32x16(&redOdd)))
	return r.GetLo().GetLo()
}

// dot4TileAVX512 scores four queries against a tile of vectors, reducing
// the four accumulators of each vector together (reduce4x16) and
// comparing them with lo in the same step.
func dot4TileAVX512(q0, q1, q2, q3, xs []float32, dim int, lo *[4]float32, out []float32, hits []uint64) {
	if dim%16 != 0 || dim == 0 || len(xs) < dim {
		dot4TileGeneric(q0, q1, q2, q3, xs, dim, lo, out, hits)
		return
	}
	nv := len(xs) / dim
	clear(hits)
	q0, q1, q2, q3, xs, out, hits = q0[:dim], q1[:dim], q2[:dim], q3[:dim], xs[:nv*dim], out[:4*nv], hits[:(nv+63)/64]
	p0, p1, p2, p3 := unsafe.Pointer(&q0[0]), unsafe.Pointer(&q1[0]), unsafe.Pointer(&q2[0]), unsafe.Pointer(&q3[0])
	for j := range nv {
		px := unsafe.Pointer(&xs[j*dim])
		var a0, a1, a2, a3 archsimd.Float32x16
		for i := 0; i < dim; i += 16 {
			v := f16(px, i)
			a0 = a0.Add(v.Mul(f16(p0, i)))
			a1 = a1.Add(v.Mul(f16(p1, i)))
			a2 = a2.Add(v.Mul(f16(p2, i)))
			a3 = a3.Add(v.Mul(f16(p3, i)))
		}
		r := reduce4x16(a0, a1, a2, a3)
		r.Store((*[4]float32)(out[4*j : 4*j+4]))
		if r.Less(archsimd.LoadFloat32x4(lo)).ToBits() != 15 {
			hits[j/64] |= 1 << (j % 64)
		}
	}
}

func dot4TileAVX2(q0, q1, q2, q3, xs []float32, dim int, lo *[4]float32, out []float32, hits []uint64) {
	nv := len(xs) / dim
	clear(hits)
	for j := range nv {
		o := (*[4]float32)(out[4*j : 4*j+4])
		dot4AVX2(q0, q1, q2, q3, xs[j*dim:(j+1)*dim], o)
		if !(o[0] < lo[0] && o[1] < lo[1] && o[2] < lo[2] && o[3] < lo[3]) {
			hits[j/64] |= 1 << (j % 64)
		}
	}
}

func dotAVX2(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	b = b[:len(a)]
	pa, pb := unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0])
	var lo, hi archsimd.Float32x8
	n := len(a) &^ 15
	for i := 0; i < n; i += 16 {
		lo = lo.Add(f8(pa, i).Mul(f8(pb, i)))
		hi = hi.Add(f8(pa, i+8).Mul(f8(pb, i+8)))
	}
	if n == len(a) {
		return sum8x2(lo, hi)
	}
	var s [16]float32
	lo.Store((*[8]float32)(s[:8]))
	hi.Store((*[8]float32)(s[8:]))
	return finish16(&s, a, b, n, false)
}

func l2sqAVX2(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	b = b[:len(a)]
	pa, pb := unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0])
	var lo, hi archsimd.Float32x8
	n := len(a) &^ 15
	for i := 0; i < n; i += 16 {
		d0 := f8(pa, i).Sub(f8(pb, i))
		d1 := f8(pa, i+8).Sub(f8(pb, i+8))
		lo = lo.Add(d0.Mul(d0))
		hi = hi.Add(d1.Mul(d1))
	}
	if n == len(a) {
		return sum8x2(lo, hi)
	}
	var s [16]float32
	lo.Store((*[8]float32)(s[:8]))
	hi.Store((*[8]float32)(s[8:]))
	return finish16(&s, a, b, n, true)
}

func dot4AVX2(q0, q1, q2, q3, x []float32, out *[4]float32) {
	out[0] = dotAVX2(q0, x)
	out[1] = dotAVX2(q1, x)
	out[2] = dotAVX2(q2, x)
	out[3] = dotAVX2(q3, x)
}

// scanPQ4AVX512 does four subspaces per VPSHUFB (64 code bytes against
// 64 lookup bytes), and since entries are at most lutMax = 63, sums the
// lookups of four such steps (16 subspaces) in bytes before widening.
// Widening sums bytes as uint16 pairs: "all" collects even+256*odd, "odd"
// the odd bytes; even = all - odd<<8 (mod 2^16, exact because each true
// sum fits 16 bits).
func scanPQ4AVX512(lut []uint8, codes []uint8, m, nblocks int, thr uint16, out []uint16, hits []uint32) {
	if m%4 != 0 || nblocks == 0 {
		scanPQ4AVX2(lut, codes, m, nblocks, thr, out, hits)
		return
	}
	bs := m * 16
	lut, codes, out, hits = lut[:m*16], codes[:nblocks*bs], out[:nblocks*32], hits[:nblocks]
	mask := archsimd.BroadcastUint8x64(0x0f)
	pl := unsafe.Pointer(&lut[0])
	for b := range nblocks {
		pc := unsafe.Pointer(&codes[b*bs])
		var aLo, oLo, aHi, oHi archsimd.Uint16x32
		off := 0
		for ; off+256 <= bs; off += 256 {
			l0, h0 := nibbles(pc, off, mask)
			l1, h1 := nibbles(pc, off+64, mask)
			l2, h2 := nibbles(pc, off+128, mask)
			l3, h3 := nibbles(pc, off+192, mask)
			aLo, oLo = widen(aLo, oLo, sum4(pl, off, l0, l1, l2, l3))
			aHi, oHi = widen(aHi, oHi, sum4(pl, off, h0, h1, h2, h3))
		}
		for ; off < bs; off += 64 {
			lo, hi := nibbles(pc, off, mask)
			aLo, oLo = widen(aLo, oLo, lookup(pl, off, lo))
			aHi, oHi = widen(aHi, oHi, lookup(pl, off, hi))
		}
		hits[b] = store32((*[32]uint16)(out[b*32:b*32+32]), thr, aLo, oLo, aHi, oHi)
	}
}

// scanPQ4GFNI is scanPQ4AVX512 with one GF(2) affine transform (each byte
// shifted right by 4) for the high nibbles instead of a shift and a mask.
// It is a copy: a shared body with a flag measured 30 % slower.
func scanPQ4GFNI(lut []uint8, codes []uint8, m, nblocks int, thr uint16, out []uint16, hits []uint32) {
	if m%4 != 0 || nblocks == 0 {
		scanPQ4AVX2(lut, codes, m, nblocks, thr, out, hits)
		return
	}
	bs := m * 16
	lut, codes, out, hits = lut[:m*16], codes[:nblocks*bs], out[:nblocks*32], hits[:nblocks]
	mask := archsimd.BroadcastUint8x64(0x0f)
	shr4 := archsimd.BroadcastUint64x8(0x1020408000000000)
	pl := unsafe.Pointer(&lut[0])
	for b := range nblocks {
		pc := unsafe.Pointer(&codes[b*bs])
		var aLo, oLo, aHi, oHi archsimd.Uint16x32
		off := 0
		for ; off+256 <= bs; off += 256 {
			l0, h0 := nibblesGFNI(pc, off, mask, shr4)
			l1, h1 := nibblesGFNI(pc, off+64, mask, shr4)
			l2, h2 := nibblesGFNI(pc, off+128, mask, shr4)
			l3, h3 := nibblesGFNI(pc, off+192, mask, shr4)
			aLo, oLo = widen(aLo, oLo, sum4(pl, off, l0, l1, l2, l3))
			aHi, oHi = widen(aHi, oHi, sum4(pl, off, h0, h1, h2, h3))
		}
		for ; off < bs; off += 64 {
			lo, hi := nibblesGFNI(pc, off, mask, shr4)
			aLo, oLo = widen(aLo, oLo, lookup(pl, off, lo))
			aHi, oHi = widen(aHi, oHi, lookup(pl, off, hi))
		}
		hits[b] = store32((*[32]uint16)(out[b*32:b*32+32]), thr, aLo, oLo, aHi, oHi)
	}
}

// nibbles loads 64 code bytes and splits them into low and high nibbles.
func nibbles(p unsafe.Pointer, off int, mask archsimd.Uint8x64) (lo, hi archsimd.Uint8x64) {
	c := u8x64(p, off)
	return c.And(mask), c.AsUint16x32().ShiftAllRight(4).AsUint8x64().And(mask)
}

func nibblesGFNI(p unsafe.Pointer, off int, mask archsimd.Uint8x64, shr4 archsimd.Uint64x8) (lo, hi archsimd.Uint8x64) {
	c := u8x64(p, off)
	return c.And(mask), c.GaloisFieldAffineTransform(shr4, 0)
}

func u8x64(p unsafe.Pointer, off int) archsimd.Uint8x64 {
	return archsimd.LoadUint8x64((*[64]uint8)(unsafe.Add(p, off)))
}

func lookup(p unsafe.Pointer, off int, idx archsimd.Uint8x64) archsimd.Uint8x64 {
	return u8x64(p, off).PermuteOrZeroGrouped(idx.AsInt8x64())
}

// widen adds the byte sums v to the "all" and "odd" accumulators.
func widen(a, o archsimd.Uint16x32, v archsimd.Uint8x64) (archsimd.Uint16x32, archsimd.Uint16x32) {
	w := v.AsUint16x32()
	return a.Add(w), o.Add(w.ShiftAllRight(8))
}

// sum4 looks up four consecutive 64-byte steps of nibbles in the table at
// p+off and sums them in bytes (at most 4*lutMax = 252).
func sum4(p unsafe.Pointer, off int, n0, n1, n2, n3 archsimd.Uint8x64) archsimd.Uint8x64 {
	return lookup(p, off, n0).Add(lookup(p, off+64, n1)).Add(lookup(p, off+128, n2).Add(lookup(p, off+192, n3)))
}

// store32 writes the 32 sums of a block from its accumulators and returns
// the mask of those <= thr.
func store32(o *[32]uint16, thr uint16, aLo, oLo, aHi, oHi archsimd.Uint16x32) uint32 {
	fold := func(v archsimd.Uint16x32) archsimd.Uint16x8 {
		h := v.GetLo().Add(v.GetHi())
		return h.GetLo().Add(h.GetHi())
	}
	t := archsimd.BroadcastUint16x8(thr)
	var hits uint32
	put := func(i int, all, odd archsimd.Uint16x8) {
		even := all.Sub(odd.ShiftAllLeft(8))
		lo, hi := even.InterleaveLo(odd), even.InterleaveHi(odd)
		lo.Store((*[8]uint16)(o[i : i+8]))
		hi.Store((*[8]uint16)(o[i+8 : i+16]))
		hits |= uint32(lo.LessEqual(t).ToBits())<<i | uint32(hi.LessEqual(t).ToBits())<<(i+8)
	}
	put(0, fold(aLo), fold(oLo))
	put(16, fold(aHi), fold(oHi))
	return hits
}

// look32 looks up the low and high nibbles of 32 code bytes (two
// subspaces, pair g) in their tables.
func look32(lut, blk []uint8, g int, mask archsimd.Uint8x32) (vlo, vhi archsimd.Uint8x32) {
	l := archsimd.LoadUint8x32((*[32]uint8)(lut[g*32 : g*32+32]))
	c := archsimd.LoadUint8x32((*[32]uint8)(blk[g*32 : g*32+32]))
	lo := c.And(mask)
	hi := c.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(mask)
	return l.PermuteOrZeroGrouped(lo.AsInt8x32()), l.PermuteOrZeroGrouped(hi.AsInt8x32())
}

// widen16 adds the byte sums v to the "all" and "odd" accumulators.
func widen16(a, o archsimd.Uint16x16, v archsimd.Uint8x32) (archsimd.Uint16x16, archsimd.Uint16x16) {
	w := v.AsUint16x16()
	return a.Add(w), o.Add(w.ShiftAllRight(8))
}

// scanPQ4AVX2 does two subspaces per VPSHUFB and sums the lookups of four
// such steps in bytes before widening, as scanPQ4AVX512 does.
func scanPQ4AVX2(lut []uint8, codes []uint8, m, nblocks int, thr uint16, out []uint16, hits []uint32) {
	bs := m * 16
	mask := archsimd.BroadcastUint8x32(0x0f)
	pairs := m / 2
	for b := range nblocks {
		blk := codes[b*bs : (b+1)*bs]
		var aLo, oLo, aHi, oHi archsimd.Uint16x16
		g := 0
		for ; g+4 <= pairs; g += 4 {
			l0, h0 := look32(lut, blk, g, mask)
			l1, h1 := look32(lut, blk, g+1, mask)
			l2, h2 := look32(lut, blk, g+2, mask)
			l3, h3 := look32(lut, blk, g+3, mask)
			aLo, oLo = widen16(aLo, oLo, l0.Add(l1).Add(l2.Add(l3)))
			aHi, oHi = widen16(aHi, oHi, h0.Add(h1).Add(h2.Add(h3)))
		}
		for ; g < pairs; g++ {
			lo, hi := look32(lut, blk, g, mask)
			aLo, oLo = widen16(aLo, oLo, lo)
			aHi, oHi = widen16(aHi, oHi, hi)
		}
		var sa, so, ha, ho [16]uint16
		aLo.Store(&sa)
		oLo.Store(&so)
		aHi.Store(&ha)
		oHi.Store(&ho)
		var rest [32]uint32
		for s := pairs * 2; s < m; s++ {
			l := lut[s*16 : s*16+16]
			c := blk[s*16 : s*16+16]
			for j := range 16 {
				rest[j] += uint32(l[c[j]&15])
				rest[j+16] += uint32(l[c[j]>>4])
			}
		}
		o := out[b*32 : b*32+32]
		for k := range 8 {
			al := sa[k] + sa[k+8]
			ol := so[k] + so[k+8]
			ah := ha[k] + ha[k+8]
			oh := ho[k] + ho[k+8]
			o[2*k] = al - ol<<8 + uint16(rest[2*k])
			o[2*k+1] = ol + uint16(rest[2*k+1])
			o[16+2*k] = ah - oh<<8 + uint16(rest[16+2*k])
			o[17+2*k] = oh + uint16(rest[17+2*k])
		}
		hits[b] = atMost(o, thr)
	}
}
