//go:build goexperiment.simd && amd64

package ann

import (
	"math/rand/v2"
	"simd/archsimd"
	"testing"
)

// TestEachSIMDKernelMatchesGeneric runs every SIMD kernel the CPU supports
// (not only the one installed) against the portable one.
func TestEachSIMDKernelMatchesGeneric(t *testing.T) {
	type set struct {
		name string
		dot  func(a, b []float32) float32
		l2   func(a, b []float32) float32
		scan func(lut, codes []uint8, m, nb int, out []uint16)
	}
	var sets []set
	if archsimd.X86.AVX2() {
		sets = append(sets, set{"avx2", dotAVX2, l2sqAVX2, scanPQ4AVX2})
	}
	if archsimd.X86.AVX512() {
		sets = append(sets, set{"avx512", dotAVX512, l2sqAVX512, scanPQ4AVX512})
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
		}
		for _, m := range []int{1, 2, 5, 8, 64, 257} {
			lut := make([]uint8, m*16)
			for i := range lut {
				lut[i] = uint8(r.IntN(256))
			}
			codes := make([]uint8, 3*m*16)
			for i := range codes {
				codes[i] = uint8(r.IntN(256))
			}
			want, got := make([]uint16, 96), make([]uint16, 96)
			scanPQ4Generic(lut, codes, m, 3, want)
			s.scan(lut, codes, m, 3, got)
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("%s m %d: scan[%d] %d, generic %d", s.name, m, i, got[i], want[i])
				}
			}
		}
	}
}

func TestAnyAtMost(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	v := make([]uint16, 32)
	for range 2000 {
		for i := range v {
			v[i] = uint16(1000 + r.IntN(60000))
		}
		th := uint16(r.IntN(65536))
		if r.IntN(3) == 0 {
			v[r.IntN(32)] = th - uint16(r.IntN(2))
		}
		if a, b := anyAtMostGeneric(v, th), anyAtMost(v, th); a != b {
			t.Fatalf("anyAtMost(%v, %d): %v, generic %v", v, th, b, a)
		}
	}
}

func BenchmarkScanPQ4(b *testing.B) {
	const m, nb = 256, 256 // 8192 vectors of 512-d at 2 dims per code: 1 MiB of codes
	r := rand.New(rand.NewPCG(1, 1))
	lut := make([]uint8, m*16)
	for i := range lut {
		lut[i] = uint8(r.IntN(256))
	}
	codes := make([]uint8, nb*m*16)
	for i := range codes {
		codes[i] = uint8(r.IntN(256))
	}
	out := make([]uint16, nb*32)
	for _, k := range []struct {
		name string
		f    func(lut, codes []uint8, m, nb int, out []uint16)
	}{{"generic", scanPQ4Generic}, {"avx2", scanPQ4AVX2}, {"avx512", scanPQ4AVX512}} {
		b.Run(k.name, func(b *testing.B) {
			b.SetBytes(int64(len(codes)))
			for b.Loop() {
				k.f(lut, codes, m, nb, out)
			}
		})
	}
}
