package face

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celebrity-zones/cz/internal/testenv"
)

// TestDescriptorPathUltraFace plugs a second detector in through a
// descriptor file written the way a user would (its own folder, model by
// absolute path): UltraFace-320, which has boxes but no keypoints, so
// faces are aligned from the box.
func TestDescriptorPathUltraFace(t *testing.T) {
	base := testPipeline(t)
	model := testenv.Path(t, "models/ultraface-320.onnx")
	builtin, err := builtinDescriptors.ReadFile("models/ultraface-320.json")
	if err != nil {
		t.Fatal(err)
	}
	desc := filepath.Join(t.TempDir(), "my-detector.json")
	text := strings.Replace(string(builtin), `"ultraface-320.onnx"`, `"`+model+`"`, 1)
	if err := os.WriteFile(desc, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := NewPipeline(Config{ModelsDir: base.cfg.ModelsDir, LibraryPath: base.cfg.LibraryPath, Detector: desc})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.DetectorDescriptor().Name != "ultraface-320" || p.ModelName() != "dlib-resnet128" {
		t.Fatalf("loaded %s + %s", p.DetectorDescriptor().Name, p.ModelName())
	}
	got, err := p.ImageFaces(context.Background(), loadImage(t, testenv.Path(t, "dlib/examples/faces/bald_guys.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	var faces []labelled
	for _, g := range baldGuys {
		for _, f := range got {
			cx, cy := (f.Box.Min.X+f.Box.Max.X)/2, (f.Box.Min.Y+f.Box.Max.Y)/2
			if abs(cx-g.x) < 80 && abs(cy-g.y) < 80 {
				faces = append(faces, labelled{g.who, f.Embedding})
				break
			}
		}
	}
	hits, _ := leaveOneOut(p, faces)
	t.Logf("ultraface on bald_guys: %d detections, %d of 24 faces, leave-one-out 1-NN %d/%d (box alignment)", len(got), len(faces), hits, len(faces))
	if len(faces) < 22 {
		t.Errorf("ultraface found %d of 24 faces", len(faces))
	}
	if hits < len(faces)*3/4 {
		t.Errorf("leave-one-out %d/%d with box alignment", hits, len(faces))
	}
	// The same person through either detector embeds close together.
	img := padImage(loadImage(t, johns(t)["John_Simm"][0]), 75)
	a, err := p.ImageFaces(context.Background(), img)
	if err != nil || len(a) != 1 {
		t.Fatalf("ultraface on a padded chip: %d faces, %v", len(a), err)
	}
	b, err := base.ImageFaces(context.Background(), img)
	if err != nil || len(b) != 1 {
		t.Fatalf("blazeface on a padded chip: %d faces, %v", len(b), err)
	}
	d := p.Distance(a[0].Embedding, b[0].Embedding)
	t.Logf("box-aligned vs keypoint-aligned embedding of the same photo: %.3f", d)
	if d >= p.Threshold() {
		t.Errorf("distance %.3f between the two alignments of one photo, want < %.2f", d, p.Threshold())
	}
}

func TestDescriptorErrors(t *testing.T) {
	good, err := builtinDescriptors.ReadFile("models/dlib-resnet128.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDescriptor(good, "x.json", "."); err != nil {
		t.Fatalf("built-in descriptor: %v", err)
	}
	cases := []struct{ text, want string }{
		{"{\n\"name\": \"a\",\n\"kind\": }", "x.json:3"},
		{`{"name": "a", "kind": "detector", "bogus": 1}`, `unknown field "bogus"`},
		{strings.Replace(string(good), `"euclidean"`, `"manhattan"`, 1), `"distance"`},
		{strings.Replace(string(good), `"NCHW"`, `"CHW"`, 1), `"input.layout"`},
		{strings.Replace(string(good), `"threshold": 0.6`, `"threshold": 0`, 1), `"threshold"`},
		{strings.Replace(string(good), `"std": [256, 256, 256]`, `"std": [256, 0, 256]`, 1), `"input.std[1]"`},
	}
	for _, c := range cases {
		_, err := ParseDescriptor([]byte(c.text), "x.json", ".")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x.json") {
			t.Errorf("error %v, want one naming x.json and %s", err, c.want)
		}
	}
	if _, err := LoadDescriptor("no-such-model", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no-such-model") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := NewPipeline(Config{Detector: "dlib-resnet128", ModelsDir: testenv.Path(t, "models"), LibraryPath: testenv.Path(t, "lib/libonnxruntime.so")}); err == nil || !strings.Contains(err.Error(), "not a detector") {
		t.Errorf("embedder as detector: %v", err)
	}
}
