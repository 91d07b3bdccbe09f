//go:build goexperiment.simd && amd64

package ann

import (
	"simd/archsimd"
	"unsafe"
)

func init() {
	switch {
	case archsimd.X86.AVX512():
		dot, l2sq, dot4, scanPQ4, kernelID = dotAVX512, l2sqAVX512, dot4AVX512, scanPQ4AVX512, "avx512"
		anyAtMost = anyAtMostAVX512
	case archsimd.X86.AVX2():
		dot, l2sq, dot4, scanPQ4, kernelID = dotAVX2, l2sqAVX2, dot4AVX2, scanPQ4AVX2, "avx2"
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

func dot4AVX512(q0, q1, q2, q3, x []float32, out *[4]float32) {
	if len(x) == 0 {
		*out = [4]float32{}
		return
	}
	n := len(x) &^ 15
	q0, q1, q2, q3 = q0[:len(x)], q1[:len(x)], q2[:len(x)], q3[:len(x)]
	px := unsafe.Pointer(&x[0])
	p0, p1, p2, p3 := unsafe.Pointer(&q0[0]), unsafe.Pointer(&q1[0]), unsafe.Pointer(&q2[0]), unsafe.Pointer(&q3[0])
	var a0, a1, a2, a3 archsimd.Float32x16
	for i := 0; i < n; i += 16 {
		v := f16(px, i)
		a0 = a0.Add(v.Mul(f16(p0, i)))
		a1 = a1.Add(v.Mul(f16(p1, i)))
		a2 = a2.Add(v.Mul(f16(p2, i)))
		a3 = a3.Add(v.Mul(f16(p3, i)))
	}
	if n == len(x) {
		out[0], out[1], out[2], out[3] = sum16(a0), sum16(a1), sum16(a2), sum16(a3)
		return
	}
	var s [16]float32
	a0.Store(&s)
	out[0] = finish16(&s, q0, x, n, false)
	a1.Store(&s)
	out[1] = finish16(&s, q1, x, n, false)
	a2.Store(&s)
	out[2] = finish16(&s, q2, x, n, false)
	a3.Store(&s)
	out[3] = finish16(&s, q3, x, n, false)
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

// scanPQ4AVX512 does four subspaces per VPSHUFB: 64 code bytes against 64
// lookup bytes. Bytes are summed as uint16 pairs: "all" collects
// even+256*odd, "odd" collects the odd bytes; even = all - odd<<8 (mod
// 2^16, exact because each true sum fits 16 bits).
func scanPQ4AVX512(lut []uint8, codes []uint8, m, nblocks int, out []uint16) {
	groups := m / 4
	if groups*4 != m || nblocks == 0 {
		scanPQ4AVX2(lut, codes, m, nblocks, out)
		return
	}
	bs := m * 16
	mask := archsimd.BroadcastUint8x64(0x0f)
	lut = lut[:m*16]
	codes = codes[:nblocks*bs]
	out = out[:nblocks*32]
	pl := unsafe.Pointer(&lut[0])
	for b := range nblocks {
		pc := unsafe.Pointer(&codes[b*bs])
		var aLo, oLo, aHi, oHi archsimd.Uint16x32
		for off := 0; off < bs; off += 64 {
			l := archsimd.LoadUint8x64((*[64]uint8)(unsafe.Add(pl, off)))
			c := archsimd.LoadUint8x64((*[64]uint8)(unsafe.Add(pc, off)))
			lo := c.And(mask)
			hi := c.AsUint16x32().ShiftAllRight(4).AsUint8x64().And(mask)
			vlo := l.PermuteOrZeroGrouped(lo.AsInt8x64()).AsUint16x32()
			vhi := l.PermuteOrZeroGrouped(hi.AsInt8x64()).AsUint16x32()
			aLo = aLo.Add(vlo)
			oLo = oLo.Add(vlo.ShiftAllRight(8))
			aHi = aHi.Add(vhi)
			oHi = oHi.Add(vhi.ShiftAllRight(8))
		}
		// Fold the four 128-bit groups: 8 lanes of 16 bits remain.
		fold := func(v archsimd.Uint16x32) archsimd.Uint16x8 {
			h := v.GetLo().Add(v.GetHi())
			return h.GetLo().Add(h.GetHi())
		}
		var al, ol, ah, oh [8]uint16
		fold(aLo).Store(&al)
		fold(oLo).Store(&ol)
		fold(aHi).Store(&ah)
		fold(oHi).Store(&oh)
		o := (*[32]uint16)(out[b*32 : b*32+32])
		for k := range 8 {
			o[2*k] = al[k] - ol[k]<<8
			o[2*k+1] = ol[k]
			o[16+2*k] = ah[k] - oh[k]<<8
			o[17+2*k] = oh[k]
		}
	}
}

func scanPQ4AVX2(lut []uint8, codes []uint8, m, nblocks int, out []uint16) {
	bs := m * 16
	mask := archsimd.BroadcastUint8x32(0x0f)
	pairs := m / 2
	for b := range nblocks {
		blk := codes[b*bs : (b+1)*bs]
		var aLo, oLo, aHi, oHi archsimd.Uint16x16
		for g := range pairs {
			l := archsimd.LoadUint8x32((*[32]uint8)(lut[g*32 : g*32+32]))
			c := archsimd.LoadUint8x32((*[32]uint8)(blk[g*32 : g*32+32]))
			lo := c.And(mask)
			hi := c.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(mask)
			vlo := l.PermuteOrZeroGrouped(lo.AsInt8x32()).AsUint16x16()
			vhi := l.PermuteOrZeroGrouped(hi.AsInt8x32()).AsUint16x16()
			aLo = aLo.Add(vlo)
			oLo = oLo.Add(vlo.ShiftAllRight(8))
			aHi = aHi.Add(vhi)
			oHi = oHi.Add(vhi.ShiftAllRight(8))
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
	}
}

func anyAtMostAVX512(v []uint16, t uint16) bool {
	x := archsimd.LoadUint16x32((*[32]uint16)(v[:32]))
	return x.LessEqual(archsimd.BroadcastUint16x32(t)).ToBits() != 0
}
