package contracts

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/celebrity-zones/cz/internal/testenv"
)

const gtPrefix = "ground-truth-images/2022-09-08@1/"

// gtFiles turns rel -> content into GroundTruthFiles of one batch.
func gtFiles(objects map[string][]byte) []GroundTruthFile {
	var files []GroundTruthFile
	for rel, data := range objects {
		files = append(files, GroundTruthFile{
			Key: gtPrefix + rel, Rel: rel, Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		})
	}
	return files
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// realFaces returns a labelled face photo (JPEG, 150x150) from dlib's
// examples and the same photo converted to WebP by ffmpeg.
func realFaces(t *testing.T) (jpg, webp []byte) {
	t.Helper()
	path := testenv.Path(t, "dlib/examples/johns/John_Simm/000288_00470387.jpg")
	jpg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "face.webp")
	if msg, err := exec.Command("ffmpeg", "-loglevel", "error", "-i", path, "-c:v", "libwebp", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg to WebP: %v\n%s", err, msg)
	}
	webp, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return jpg, webp
}

func TestValidateGroundTruthAcceptsRealPhotos(t *testing.T) {
	jpg, webp := realFaces(t)
	zones := []Zone{{ID: zoneA, Name: "John Simm"}, {ID: zoneB, Name: "B"}}
	ps := ValidateGroundTruth(zones, gtFiles(map[string][]byte{
		zoneA + "/1.jpg":  jpg,
		zoneA + "/2.webp": webp,
		zoneB + "/1.png":  pngOf(t, 64, 64),
	}))
	if len(ps) != 0 {
		t.Fatalf("expected no problems with JPEG, WebP and PNG faces; got %v", ps)
	}
}

func TestValidateGroundTruthReportsEveryProblem(t *testing.T) {
	jpg, _ := realFaces(t)
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, image.NewPaletted(image.Rect(0, 0, 80, 80), color.Palette{color.Black, color.White}), nil); err != nil {
		t.Fatal(err)
	}
	zones := []Zone{{ID: zoneA, Name: "A"}, {ID: zoneB, Name: "B"}, {ID: zoneC, Name: "C"}}
	files := gtFiles(map[string][]byte{
		zoneA + "/ok.jpg":                            jpg,
		zoneA + "/truncated.jpg":                     jpg[:len(jpg)/2],
		zoneA + "/tiny.png":                          pngOf(t, 32, 80),
		zoneA + "/anim.gif":                          gifBuf.Bytes(),
		zoneA + "/notes.txt":                         []byte("hello"),
		zoneA + "/empty.jpg":                         {},
		zoneA + "/sub/x.jpg":                         jpg,
		"readme.md":                                  []byte("hi"),
		zoneB + "/huge.png":                          pngOf(t, 200, 160), // over the pixel limit below
		"not-a-zone/x.jpg":                           jpg,
		"not-a-zone/y.jpg":                           jpg,
		"9a1c4d2e-5f6a-4b7c-8d9e-000000000000/x.jpg": jpg,
	})
	files = append(files, GroundTruthFile{Key: gtPrefix + zoneA + "/gone.jpg", Rel: zoneA + "/gone.jpg", Size: 10,
		Open: func() (io.ReadCloser, error) { return nil, errors.New("connection reset") }})
	limits := DefaultImageLimits
	limits.MaxPixels = 150 * 150
	ps := limits.ValidateGroundTruth(zones, files)
	checkProblems(t, ps.Err(),
		gtPrefix+zoneA+"/truncated.jpg: jpeg image does not decode",
		gtPrefix+zoneA+"/tiny.png: is 32x80 pixels; expected at least 64x64",
		gtPrefix+zoneA+"/anim.gif: is a gif image; expected jpeg, png, webp",
		gtPrefix+zoneA+"/notes.txt: not an image this system reads",
		gtPrefix+zoneA+"/empty.jpg: empty file",
		gtPrefix+zoneA+"/sub/x.jpg: nested folder",
		gtPrefix+zoneA+"/gone.jpg: cannot read: connection reset",
		gtPrefix+"readme.md: stray file at the top of the batch folder",
		gtPrefix+zoneB+"/huge.png: is 200x160 pixels; expected at most 22500 pixels",
		gtPrefix+zoneB+`/: zone "B" has 0 usable images; expected at least 1`,
		gtPrefix+zoneC+`/: zone "C" has 0 usable images`,
		gtPrefix+`not-a-zone/: folder "not-a-zone" is not a zone of the zone list`,
		gtPrefix+`9a1c4d2e-5f6a-4b7c-8d9e-000000000000/: folder "9a1c4d2e-5f6a-4b7c-8d9e-000000000000" is not a zone`,
	)
}

func TestValidateGroundTruthSizeLimitBeforeDecoding(t *testing.T) {
	limits := DefaultImageLimits
	limits.MaxBytes = 100
	opened := false
	files := []GroundTruthFile{{Key: gtPrefix + zoneA + "/big.jpg", Rel: zoneA + "/big.jpg", Size: 101,
		Open: func() (io.ReadCloser, error) { opened = true; return nil, errors.New("should not open") }}}
	ps := limits.ValidateGroundTruth([]Zone{{ID: zoneA, Name: "A"}}, files)
	checkProblems(t, ps.Err(), gtPrefix+zoneA+"/big.jpg: is 101 bytes; expected at most 100", gtPrefix+zoneA+"/: zone")
	if opened {
		t.Error("an oversized file was opened; expected it rejected by size alone")
	}
}
