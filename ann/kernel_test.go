package ann

import (
	"math/rand/v2"
	"testing"
)

// TestKernelsMatchGeneric checks that the kernels in use (SIMD when built
// with GOEXPERIMENT=simd) give bit-identical results to the portable ones.
func TestKernelsMatchGeneric(t *testing.T) {
	t.Logf("kernels: %s", KernelName())
	r := rand.New(rand.NewPCG(1, 2))
	for _, d := range []int{1, 7, 16, 17, 100, 128, 512, 784} {
		a, b := randVec(r, d), randVec(r, d)
		if g, s := dotGeneric(a, b), dot(a, b); g != s {
			t.Errorf("dim %d: dot generic %v, in use %v", d, g, s)
		}
		if g, s := l2sqGeneric(a, b), l2sq(a, b); g != s {
			t.Errorf("dim %d: l2sq generic %v, in use %v", d, g, s)
		}
		q := [4][]float32{randVec(r, d), randVec(r, d), randVec(r, d), randVec(r, d)}
		var out [4]float32
		dot4(q[0], q[1], q[2], q[3], a, &out)
		for i := range 4 {
			if g := dotGeneric(q[i], a); g != out[i] {
				t.Errorf("dim %d: dot4[%d] %v, dot %v", d, i, out[i], g)
			}
		}
	}
	for _, m := range []int{1, 2, 3, 4, 6, 64, 256, 392} {
		lut := make([]uint8, m*16)
		for i := range lut {
			lut[i] = uint8(r.IntN(256 * 255 / 255 / max(1, m/257+1)))
		}
		nb := 5
		codes := make([]uint8, nb*m*16)
		for i := range codes {
			codes[i] = uint8(r.IntN(256))
		}
		want := make([]uint16, nb*32)
		got := make([]uint16, nb*32)
		scanPQ4Generic(lut, codes, m, nb, want)
		scanPQ4(lut, codes, m, nb, got)
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("m %d: scan[%d] generic %d, in use %d", m, i, want[i], got[i])
			}
		}
		// The generic scan against a direct sum over unpacked codes.
		for b := range nb {
			for j := range 32 {
				var s int
				for sub := range m {
					c := codes[b*m*16+sub*16+j%16]
					if j >= 16 {
						c >>= 4
					}
					s += int(lut[sub*16+int(c&15)])
				}
				if uint16(s) != want[b*32+j] {
					t.Fatalf("m %d: block %d vector %d: %d, want %d", m, b, j, want[b*32+j], s)
				}
			}
		}
	}
}

func randVec(r *rand.Rand, d int) []float32 {
	v := make([]float32, d)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}
