package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/face"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// TestFacesCommand publishes an index of two people's faces (dlib's johns)
// and checks that `cz faces --json --index` names the zone of a third photo
// of each.
func TestFacesCommand(t *testing.T) {
	models := testenv.Path(t, "models")
	lib := testenv.Path(t, "lib/libonnxruntime.so")
	photo := testenv.Path(t, "dlib/examples/johns/John_Simm")
	files, _ := filepath.Glob(filepath.Join(photo, "*.jpg"))
	salley, _ := filepath.Glob(filepath.Join(testenv.Path(t, "dlib/examples/johns/John_Salley"), "*.jpg"))
	if len(files) < 3 || len(salley) < 3 {
		t.Fatal("johns photos missing")
	}
	p, err := face.NewPipeline(face.Config{ModelsDir: models, LibraryPath: lib})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Ground truth: two photos of each John, padded so a head is visible.
	x := ann.New(128, ann.Euclidean, ann.WithModel(p.ModelName()))
	id := uint64(1)
	dir := t.TempDir()
	for zone, list := range map[string][]string{"simm": files[:2], "salley": salley[:2]} {
		for _, f := range list {
			faces, err := p.ImageFaces(context.Background(), padded(t, f))
			if err != nil || len(faces) != 1 {
				t.Fatalf("%s: %d faces, %v", f, len(faces), err)
			}
			if err := x.Add(ann.Item{ID: id, Label: zone, Vector: faces[0].Embedding}); err != nil {
				t.Fatal(err)
			}
			id++
		}
	}
	b, err := store.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ann.Publish(context.Background(), b, layout.Index(p.ModelName()), x); err != nil {
		t.Fatal(err)
	}
	// Queries: a third photo of each, written padded as JPEG files.
	q1 := writeJPEG(t, padded(t, files[2]))
	q2 := writeJPEG(t, padded(t, salley[2]))
	var out bytes.Buffer
	root.SetOut(&out)
	defer root.SetOut(nil)
	defer root.SetArgs(nil)
	root.SetArgs([]string{"faces", "--json", "--models", models, "--index", dir, q1, q2})
	t.Setenv("CZ_ORT_LIB", lib)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	var res []facesOutput
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for i, want := range []string{"simm", "salley"} {
		if len(res[i].Faces) != 1 {
			t.Fatalf("%s: %d faces", res[i].File, len(res[i].Faces))
		}
		f := res[i].Faces[0]
		if f.Zone != want || f.Distance == nil || *f.Distance >= 0.6 || !*f.Match || f.ID != "face-01" {
			t.Errorf("%s: zone %q distance %v match %v, want %s within 0.6", res[i].File, f.Zone, f.Distance, f.Match, want)
		}
	}
}

func padded(t *testing.T, file string) image.Image {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()+150, b.Dy()+150))
	for i := range out.Pix {
		out.Pix[i] = 128
	}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(75+x, 75+y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

func writeJPEG(t *testing.T, img image.Image) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "q*.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, nil); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
