//go:build goexperiment.simd && amd64

package ann

import (
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"slices"
	"testing"
)

// TestEachSIMDKernelMatchesGeneric runs every SIMD kernel the CPU supports
// (not only the one installed) against the portable one.
func TestEachSIMDKernelMatchesGeneric(t *testing.T) {
	type set struct {
		name string
		dot  func(a, b []float32) float32
		tile func(q0, q1, q2, q3, xs []float32, dim int, lo *[4]float32, out []float32, hits []uint64)
		l2   func(a, b []float32) float32
		scan func(lut, codes []uint8, m, nb int, thr uint16, out []uint16, hits []uint32)
	}
	var sets []set
	if archsimd.X86.AVX2() {
		sets = append(sets, set{"avx2", dotAVX2, dot4TileAVX2, l2sqAVX2, scanPQ4AVX2})
	}
	if archsimd.X86.AVX512() {
		sets = append(sets, set{"avx512", dotAVX512, dot4TileAVX512, l2sqAVX512, scanPQ4AVX512})
		if archsimd.X86.AVX512GFNI() {
			sets = append(sets, set{"avx512+gfni", dotAVX512, dot4TileAVX512, l2sqAVX512, scanPQ4GFNI})
		}
	}
	if len(sets) == 0 {
		t.Skip("CPU has neither AVX2 nor AVX-512")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range sets {
		for _, d := range []int{1, 15, 16, 31, 128, 512, 784} {
			a, b := randVec(r, d), randVec(r, d)
			if g, v := dotGeneric(a, b), s.dot(a, b); g != v {
				t.Errorf("%s dim %d: dot %v, generic %v", s.name, d, v, g)
			}
			if g, v := l2sqGeneric(a, b), s.l2(a, b); g != v {
				t.Errorf("%s dim %d: l2sq %v, generic %v", s.name, d, v, g)
			}
			q := [4][]float32{randVec(r, d), randVec(r, d), randVec(r, d), randVec(r, d)}
			xs := slices.Concat(a, b, randVec(r, d))
			for _, lo := range [][4]float32{
				{float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))},
				{dotGeneric(q[0], b), float32(math.Inf(1)), 0.5, float32(math.Inf(1))},
				{float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1))},
			} {
				want, got := make([]float32, 12), make([]float32, 12)
				wantHits, gotHits := []uint64{0}, []uint64{7 << 5}
				dot4TileGeneric(q[0], q[1], q[2], q[3], xs, d, &lo, want, wantHits)
				s.tile(q[0], q[1], q[2], q[3], xs, d, &lo, got, gotHits)
				if !slices.Equal(want, got) || wantHits[0] != gotHits[0] {
					t.Errorf("%s dim %d lo %v: dot4Tile %v %b, generic %v %b", s.name, d, lo, got, gotHits, want, wantHits)
				}
			}
		}
		for _, m := range []int{1, 2, 4, 5, 8, 20, 64, 256, 257, 392} {
			for _, thr := range []uint16{0, uint16(r.IntN(m*lutMax + 1)), math.MaxUint16} {
				lut, codes := scanInputs(r, m, 3)
				want, wantHits := make([]uint16, 96), make([]uint32, 3)
				got, gotHits := make([]uint16, 96), make([]uint32, 3)
				scanPQ4Generic(lut, codes, m, 3, thr, want, wantHits)
				s.scan(lut, codes, m, 3, thr, got, gotHits)
				if !slices.Equal(want, got) || !slices.Equal(wantHits, gotHits) {
					t.Fatalf("%s m %d thr %d: scan differs from generic:\n%v %b\n%v %b", s.name, m, thr, got, gotHits, want, wantHits)
				}
			}
		}
	}
}

func BenchmarkScanPQ4(b *testing.B) {
	const m, nb = 256, 256 // 8192 vectors of 512-d at 2 dims per code: 1 MiB of codes
	r := rand.New(rand.NewPCG(1, 1))
	lut, codes := scanInputs(r, m, nb)
	out, hits := make([]uint16, nb*32), make([]uint32, nb)
	for _, k := range []struct {
		name string
		f    func(lut, codes []uint8, m, nb int, thr uint16, out []uint16, hits []uint32)
	}{{"generic", scanPQ4Generic}, {"avx2", scanPQ4AVX2}, {"avx512", scanPQ4AVX512}, {"avx512+gfni", scanPQ4GFNI}} {
		b.Run(k.name, func(b *testing.B) {
			b.SetBytes(int64(len(codes)))
			for b.Loop() {
				k.f(lut, codes, m, nb, 1000, out, hits)
			}
		})
	}
}

// BenchmarkExactTile measures the exact-scan kernel on four queries
// against 256 vectors of 512-d (a tile in cache).
func BenchmarkExactTile(b *testing.B) {
	const d, nv = 512, 256
	r := rand.New(rand.NewPCG(1, 1))
	q := [4][]float32{randVec(r, d), randVec(r, d), randVec(r, d), randVec(r, d)}
	xs := randVec(r, nv*d)
	out, hits := make([]float32, 4*nv), make([]uint64, nv/64)
	lo := [4]float32{1e9, 1e9, 1e9, 1e9}
	b.SetBytes(4 * nv * d * 4)
	for b.Loop() {
		dot4Tile(q[0], q[1], q[2], q[3], xs, d, &lo, out, hits)
	}
}
