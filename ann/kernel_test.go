package ann

import (
	"math"
	"math/rand/v2"
	"slices"
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
		xs := slices.Concat(a, randVec(r, d), randVec(r, d))
		tile, hits := make([]float32, 12), []uint64{1 << 63}
		lo := [4]float32{dotGeneric(q[0], a), float32(math.Inf(1)), float32(math.Inf(1)), 0}
		dot4Tile(q[0], q[1], q[2], q[3], xs, d, &lo, tile, hits)
		for j := range 3 {
			hit := false
			for i := range 4 {
				g := dotGeneric(q[i], xs[j*d:(j+1)*d])
				if g != tile[4*j+i] {
					t.Errorf("dim %d: dot4Tile vector %d query %d: %v, dot %v", d, j, i, tile[4*j+i], g)
				}
				hit = hit || g >= lo[i]
			}
			if got := hits[0]>>j&1 == 1; got != hit || (j == 0 && !got) {
				t.Errorf("dim %d: dot4Tile vector %d: hit %v, want %v", d, j, got, hit)
			}
		}
		if hits[0]>>3 != 0 {
			t.Errorf("dim %d: dot4Tile hits %b beyond the tile", d, hits[0])
		}
	}
	for _, m := range []int{1, 2, 3, 4, 6, 20, 64, 256, 392} {
		nb := 5
		lut, codes := scanInputs(r, m, nb)
		want, wantHits := make([]uint16, nb*32), make([]uint32, nb)
		got, gotHits := make([]uint16, nb*32), make([]uint32, nb)
		thr := uint16(r.IntN(m*lutMax + 1))
		scanPQ4Generic(lut, codes, m, nb, thr, want, wantHits)
		scanPQ4(lut, codes, m, nb, thr, got, gotHits)
		if !slices.Equal(want, got) || !slices.Equal(wantHits, gotHits) {
			t.Fatalf("m %d: scan in use differs from generic", m)
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
				if hit := wantHits[b]>>j&1 == 1; hit != (s <= int(thr)) {
					t.Fatalf("m %d: block %d vector %d: sum %d, thr %d, hit %v", m, b, j, s, thr, hit)
				}
			}
		}
	}
}

// scanInputs makes a lookup table with entries up to lutMax (half of them
// at the extremes, to exercise byte-sum overflow) and random codes.
func scanInputs(r *rand.Rand, m, nb int) (lut, codes []uint8) {
	lut = make([]uint8, m*16)
	for i := range lut {
		switch r.IntN(4) {
		case 0:
			lut[i] = lutMax
		case 1:
			lut[i] = 0
		default:
			lut[i] = uint8(r.IntN(lutMax + 1))
		}
	}
	codes = make([]uint8, nb*m*16)
	for i := range codes {
		codes[i] = uint8(r.IntN(256))
	}
	return lut, codes
}

func randVec(r *rand.Rand, d int) []float32 {
	v := make([]float32, d)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}
