package face

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/celebrity-zones/cz/internal/testenv"
)

var (
	pipeOnce sync.Once
	pipe     *Pipeline
	pipeErr  error
)

// testPipeline is the default pipeline, shared by the package's tests.
func testPipeline(t testing.TB) *Pipeline {
	t.Helper()
	lib := testenv.Path(t, "lib/libonnxruntime.so")
	models := testenv.Path(t, "models")
	testenv.Path(t, "models/blazeface-back.onnx")
	testenv.Path(t, "models/dlib-resnet128.onnx")
	pipeOnce.Do(func() {
		pipe, pipeErr = NewPipeline(Config{ModelsDir: models, LibraryPath: lib})
	})
	if pipeErr != nil {
		t.Fatal(pipeErr)
	}
	return pipe
}

func loadImage(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// johns returns dlib's johns chips: person -> files.
func johns(t testing.TB) map[string][]string {
	t.Helper()
	dir := testenv.Path(t, "dlib/examples/johns")
	people, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range people {
		files, _ := filepath.Glob(filepath.Join(dir, p.Name(), "*.jpg"))
		out[p.Name()] = files
	}
	if len(out) != 5 {
		t.Fatalf("%s: %d people, want 5", dir, len(out))
	}
	return out
}

// padImage puts img in the middle of a grey canvas with pad pixels on
// every side, so a detector sees a whole head in a tightly cropped chip.
func padImage(img image.Image, pad int) image.Image {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()+2*pad, b.Dy()+2*pad))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Gray{128}), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(pad, pad, pad+b.Dx(), pad+b.Dy()), img, b.Min, draw.Src)
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
