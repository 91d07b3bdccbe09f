package face

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkVideoFaces runs the whole video path (ffmpeg decode at 1
// frame/s, detection, alignment, embedding, grouping) on a 60 s 1280x720
// H.264 video with two faces on screen, and reports frames/s, faces/s and
// efficiency: the share of wall time during which ONNX Runtime was running
// (the rest is decoding, resizing, alignment and waiting). "serial" runs
// one video after another; "2-videos" keeps two in flight, as an executor
// does, so one video's start-up and decoding overlap the other's inference;
// "2-videos-1-thread" does so with one ONNX Runtime thread per call.
func BenchmarkVideoFaces(b *testing.B) {
	p := testPipeline(b)
	j := johns(b)
	dir := b.TempDir()
	var stills []image.Image
	people := []string{"John_Simm", "John_Salley", "John_Savage", "John_Schneider", "John_Shimkus"}
	for i := 0; i < 6; i++ {
		a := loadImage(b, j[people[i%5]][i])
		c := loadImage(b, j[people[(i+1)%5]][i+1])
		stills = append(stills, still(b, a, c))
	}
	path := makeVideoSized(b, dir, 10, "1280x720", stills...)
	if fi, err := os.Stat(path); err == nil {
		b.Logf("sample video %s: %d KiB", filepath.Base(path), fi.Size()>>10)
	}
	ctx := context.Background()
	if _, err := p.VideoFaces(ctx, path); err != nil { // warm up
		b.Fatal(err)
	}
	one, err := NewPipeline(Config{ModelsDir: p.cfg.ModelsDir, LibraryPath: p.cfg.LibraryPath, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer one.Close()
	if _, err := one.VideoFaces(ctx, path); err != nil { // warm up
		b.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		p        *Pipeline
		inFlight int
	}{{"serial", p, 1}, {"2-videos", p, 2}, {"2-videos-1-thread", one, 2}} {
		p, inFlight := c.p, c.inFlight
		b.Run(c.name, func(b *testing.B) {
			before := p.Stats()
			start := time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			next := make(chan int)
			for w := 0; w < inFlight; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range next {
						if _, err := p.VideoFaces(ctx, path); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				next <- i
			}
			close(next)
			wg.Wait()
			b.StopTimer()
			wall := time.Since(start).Seconds()
			after := p.Stats()
			b.ReportMetric(float64(after.Frames-before.Frames)/wall, "frames/s")
			b.ReportMetric(float64(after.Faces-before.Faces)/wall, "faces/s")
			b.ReportMetric((after.ORT-before.ORT).Seconds()/wall, "efficiency")
		})
	}
}
