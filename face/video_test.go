package face

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// still draws chips (scaled x2, side by side) on a 640x360 grey frame.
func still(t testing.TB, chips ...image.Image) image.Image {
	out := image.NewRGBA(image.Rect(0, 0, 640, 360))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Gray{110}), image.Point{}, draw.Src)
	for i, c := range chips {
		x0 := 20 + i*320
		b := c.Bounds()
		for y := 0; y < 300; y++ {
			for x := 0; x < 300; x++ {
				out.Set(x0+x, 30+y, c.At(b.Min.X+x/2, b.Min.Y+y/2))
			}
		}
	}
	return out
}

// makeVideo encodes stills, secs seconds each, as H.264 at 25 frames/s.
func makeVideo(t testing.TB, dir string, secs int, stills ...image.Image) string {
	return makeVideoSized(t, dir, secs, "", stills...)
}

// makeVideoSized is makeVideo with the video scaled to size ("WxH").
func makeVideoSized(t testing.TB, dir string, secs int, size string, stills ...image.Image) string {
	t.Helper()
	args := []string{"-v", "error", "-y"}
	for i, s := range stills {
		p := filepath.Join(dir, fmt.Sprintf("s%d.png", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, s); err != nil {
			t.Fatal(err)
		}
		f.Close()
		args = append(args, "-loop", "1", "-framerate", "25", "-t", fmt.Sprint(secs), "-i", p)
	}
	filter := ""
	for i := range stills {
		filter += fmt.Sprintf("[%d:v]", i)
	}
	filter += fmt.Sprintf("concat=n=%d:v=1", len(stills))
	if size != "" {
		filter += ",scale=" + strings.Replace(size, "x", ":", 1)
	}
	filter += "[v]"
	out := filepath.Join(dir, "v.mp4")
	args = append(args, "-filter_complex", filter, "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func TestVideoFaces(t *testing.T) {
	p := testPipeline(t)
	j := johns(t)
	simm, salley := j["John_Simm"], j["John_Salley"]
	dir := t.TempDir()
	path := makeVideo(t, dir, 2,
		still(t, loadImage(t, simm[0])),
		still(t, loadImage(t, salley[1]), loadImage(t, simm[2])),
		still(t, loadImage(t, salley[3])))
	faces, err := p.VideoFaces(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range faces {
		t.Logf("%s box %v quality %.2f frames %d first %v crop %d bytes", f.ID, f.Box, f.Quality, f.Frames, f.First, len(f.Crop))
	}
	if len(faces) != 2 {
		t.Fatalf("%d unique faces, want 2 (Simm, Salley)", len(faces))
	}
	// face-01 is Simm (seen first), face-02 Salley: check against the
	// photos' own embeddings.
	ref := func(file string) []float32 {
		got, err := p.ImageFaces(context.Background(), padImage(loadImage(t, file), 75))
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %d faces, %v", file, len(got), err)
		}
		return got[0].Embedding
	}
	for i, who := range [][]string{simm, salley} {
		f := faces[i]
		if f.ID != faceID(i) {
			t.Errorf("face %d has ID %s", i, f.ID)
		}
		d := p.Distance(f.Embedding, ref(who[4]))
		other := p.Distance(f.Embedding, ref([][]string{salley, simm}[i][4]))
		t.Logf("%s: distance to own photo %.3f, to the other %.3f", f.ID, d, other)
		if d >= p.Threshold() || other < p.Threshold() {
			t.Errorf("%s: distance %.3f to its person, %.3f to the other, threshold %.2f", f.ID, d, other, p.Threshold())
		}
		if f.Frames < 3 || f.Frames > 5 {
			t.Errorf("%s seen in %d frames, want 4 (+-1)", f.ID, f.Frames)
		}
		if _, err := jpeg.Decode(bytesReader(f.Crop)); err != nil {
			t.Errorf("%s: crop is not a JPEG: %v", f.ID, err)
		}
	}
	if faces[0].First != 0 || faces[1].First < time.Second {
		t.Errorf("first seen at %v and %v", faces[0].First, faces[1].First)
	}
	// Stable: the same input gives the same faces.
	again, err := p.VideoFaces(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range faces {
		if again[i].ID != faces[i].ID || again[i].Box != faces[i].Box || again[i].Frames != faces[i].Frames {
			t.Errorf("second run differs: %+v vs %+v", again[i].Box, faces[i].Box)
		}
	}
}

func TestVideoErrors(t *testing.T) {
	p := testPipeline(t)
	dir := t.TempDir()
	good := makeVideo(t, dir, 2, still(t, loadImage(t, johns(t)["John_Simm"][0])))
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A fast-start copy keeps the index in front, so a cut keeps some frames.
	fast := filepath.Join(dir, "fast.mp4")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-i", good, "-c", "copy", "-movflags", "+faststart", fast).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, b)
	}
	fastData, _ := os.ReadFile(fast)
	fifo := filepath.Join(dir, "fifo.mp4")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		want       error
	}{
		{"missing", filepath.Join(dir, "nope.mp4"), os.ErrNotExist},
		{"zero-length", write("empty.mp4", nil), ErrEmptyFile},
		{"not a video", write("text.mp4", []byte("hello, this is not a video\n")), ErrNotVideo},
		{"truncated, index at end", write("cut.mp4", data[:len(data)/2]), ErrNotVideo},
		{"truncated, index in front", write("cutfast.mp4", fastData[:len(fastData)*2/3]), ErrCorrupt},
		{"corrupt", write("corrupt.mp4", corrupt(fastData)), ErrCorrupt},
		{"never-ending input", fifo, ErrTimeout},
	}
	q, err := NewPipeline(Config{ModelsDir: p.cfg.ModelsDir, LibraryPath: p.cfg.LibraryPath, VideoTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := q.VideoFaces(context.Background(), c.path)
			t.Logf("%v", err)
			var ve *VideoError
			if !errors.As(err, &ve) || ve.Path != c.path {
				t.Fatalf("error %v is not a *VideoError for %s", err, c.path)
			}
			if !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
		})
	}
}

// corrupt overwrites the middle of the media data with garbage.
func corrupt(b []byte) []byte {
	c := append([]byte(nil), b...)
	for i := len(c) / 2; i < len(c)/2+4000 && i < len(c); i++ {
		c[i] = byte(i * 7)
	}
	return c
}
