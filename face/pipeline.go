package face

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"github.com/celebrity-zones/cz/internal/deps"
)

// Config configures a Pipeline. The zero value uses the defaults.
type Config struct {
	// ModelsDir holds the ONNX files (and optional descriptor overrides);
	// default $CZ_DEPS/models, else .deps/models.
	ModelsDir string
	// Detector and Embedder are descriptor names (built in, or NAME.json in
	// ModelsDir) or paths to descriptor files; defaults "blazeface-back"
	// and "dlib-resnet128".
	Detector, Embedder string
	// Threads is ONNX Runtime's intra-op thread count per session (0: the
	// runtime's default, one per core).
	Threads int
	// Provider is "cpu" (default) or "cuda": the CUDA execution provider,
	// which needs a CUDA build of libonnxruntime (see README.md).
	Provider string
	// DeviceID is the CUDA device for Provider "cuda".
	DeviceID int
	// LibraryPath is libonnxruntime.so; default CZ_ORT_LIB, else
	// $CZ_DEPS/lib/libonnxruntime.so.
	LibraryPath string
	// FPS is the video sampling rate in frames per second (default 1).
	FPS float64
	// VideoTimeout bounds one video's decoding and inference (default 10m).
	VideoTimeout time.Duration
	// MaxSide bounds decoded video frames: larger videos are scaled down
	// by ffmpeg so the longer side is at most MaxSide (default 960).
	MaxSide int
	// Batch is the largest number of frames (detector) or faces (embedder)
	// fed to one ONNX Runtime call (default 8).
	Batch int
	// MinFaceSize drops detections whose box is smaller than this many
	// pixels on its shorter side (default 20).
	MinFaceSize int
}

func (c Config) withDefaults() Config {
	if c.ModelsDir == "" {
		c.ModelsDir = deps.Path("models")
	}
	if c.Detector == "" {
		c.Detector = "blazeface-back"
	}
	if c.Embedder == "" {
		c.Embedder = "dlib-resnet128"
	}
	if c.LibraryPath == "" {
		c.LibraryPath = DefaultLibraryPath()
	}
	if c.FPS <= 0 {
		c.FPS = 1
	}
	if c.VideoTimeout <= 0 {
		c.VideoTimeout = 10 * time.Minute
	}
	if c.MaxSide <= 0 {
		c.MaxSide = 960
	}
	if c.Batch <= 0 {
		c.Batch = 8
	}
	if c.MinFaceSize <= 0 {
		c.MinFaceSize = 20
	}
	return c
}

// Face is one face: in an image, one detection; in a video, one person
// tracked across frames.
type Face struct {
	ID        string          // "face-01", ...
	Box       image.Rectangle // in the source frame (for videos: of the best frame)
	Quality   float32         // higher is better, 0..1
	Embedding []float32       // representative embedding
	Crop      []byte          // best crop, JPEG
	Frames    int             // frames the face was seen in (1 for images)
	// Score is the detector's confidence for the best frame.
	Score float32
	// Keypoints are the detector's keypoints in the best frame, in the
	// detector descriptor's order (see DetectorKeypoints).
	Keypoints []image.Point
	// First is the time of the first frame the face was seen in (videos).
	First time.Duration
}

// Pipeline detects, aligns and embeds faces. It is safe for concurrent
// use: ONNX Runtime sessions are shared by every Pipeline of the process
// with the same models and options, and run calls concurrently.
type Pipeline struct {
	cfg   Config
	det   *detector
	emb   *embedder
	clock busyClock
	// counters for Stats
	frames, faces atomic.Int64
}

// Stats are a pipeline's running totals.
type Stats struct {
	Frames int64         // images and sampled video frames processed
	Faces  int64         // faces aligned and embedded
	ORT    time.Duration // wall time with at least one ONNX Runtime call running
}

// Stats returns the totals so far.
func (p *Pipeline) Stats() Stats {
	return Stats{Frames: p.frames.Load(), Faces: p.faces.Load(), ORT: p.clock.busy()}
}

// NewPipeline loads the descriptors, ONNX Runtime and the two sessions.
func NewPipeline(cfg Config) (*Pipeline, error) {
	cfg = cfg.withDefaults()
	dd, err := LoadDescriptor(cfg.Detector, cfg.ModelsDir)
	if err != nil {
		return nil, err
	}
	if dd.Kind != "detector" {
		return nil, fmt.Errorf("face: %s is a %s, not a detector", dd.Name, dd.Kind)
	}
	ed, err := LoadDescriptor(cfg.Embedder, cfg.ModelsDir)
	if err != nil {
		return nil, err
	}
	if ed.Kind != "embedder" {
		return nil, fmt.Errorf("face: %s is a %s, not an embedder", ed.Name, ed.Kind)
	}
	ortMu.Lock()
	err = initORT(cfg.LibraryPath)
	ortMu.Unlock()
	if err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg}
	key := func(d *Descriptor) sessionKey {
		return sessionKey{model: d.ModelPath(), threads: cfg.Threads, provider: cfg.Provider, device: cfg.DeviceID}
	}
	ds, err := openSession(key(dd), dd.Input.Name, dd.Outputs)
	if err != nil {
		return nil, fmt.Errorf("detector %s: %w", dd.Name, err)
	}
	es, err := openSession(key(ed), ed.Input.Name, ed.Outputs)
	if err != nil {
		ds.release()
		return nil, fmt.Errorf("embedder %s: %w", ed.Name, err)
	}
	p.det = newDetector(dd, ds, &p.clock)
	p.emb = &embedder{d: ed, s: es, clock: &p.clock, batch: cfg.Batch}
	return p, nil
}

// Close releases the pipeline's hold on the shared sessions.
func (p *Pipeline) Close() error {
	return errors.Join(p.det.s.release(), p.emb.s.release())
}

// ModelName is the embedder's name, used in storage layouts.
func (p *Pipeline) ModelName() string { return p.emb.d.Name }

// Threshold is the embedder's same-person distance threshold.
func (p *Pipeline) Threshold() float32 { return p.emb.d.Threshold }

// Distance is the embedder's distance between two embeddings.
func (p *Pipeline) Distance(a, b []float32) float32 { return p.emb.d.Dist(a, b) }

// Embedder returns the embedder's descriptor.
func (p *Pipeline) Embedder() *Descriptor { return p.emb.d }

// DetectorDescriptor returns the detector's descriptor.
func (p *Pipeline) DetectorDescriptor() *Descriptor { return p.det.d }

// ImageFaces finds, aligns and embeds every face of a photo. Faces are
// numbered left to right, then top to bottom.
func (p *Pipeline) ImageFaces(ctx context.Context, img image.Image) ([]Face, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f := toFrame(img)
	if f.W == 0 || f.H == 0 {
		return nil, errors.New("face: empty image")
	}
	dets, err := p.det.detect([]*frame{f})
	if err != nil {
		return nil, err
	}
	all, err := p.embedFaces([]*frame{f}, dets)
	if err != nil {
		return nil, err
	}
	found := all[0]
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i].det, found[j].det
		if a.X0 != b.X0 {
			return a.X0 < b.X0
		}
		return a.Y0 < b.Y0
	})
	out := make([]Face, len(found))
	b := image.Rect(0, 0, f.W, f.H).Add(img.Bounds().Min)
	for i, ff := range found {
		crop, err := cropJPEG(f, cropRect(ff.det, f), 256)
		if err != nil {
			return nil, err
		}
		out[i] = Face{
			ID:        faceID(i),
			Box:       ff.box().Add(b.Min),
			Quality:   ff.quality,
			Embedding: ff.emb,
			Crop:      crop,
			Frames:    1,
			Score:     ff.det.Score,
			Keypoints: ff.points(),
		}
	}
	return out, nil
}

// found is one embedded detection.
type found struct {
	det     detection
	emb     []float32
	quality float32
}

func (f found) box() image.Rectangle {
	return image.Rect(int(f.det.X0+0.5), int(f.det.Y0+0.5), int(f.det.X1+0.5), int(f.det.Y1+0.5))
}

func (f found) points() []image.Point {
	pts := make([]image.Point, len(f.det.Points))
	for i, p := range f.det.Points {
		pts[i] = image.Pt(int(p[0]+0.5), int(p[1]+0.5))
	}
	return pts
}

// faces filters, aligns and embeds the detections of frames, all faces
// in as few embedder calls as the batch size allows.
func (p *Pipeline) embedFaces(frames []*frame, dets [][]detection) ([][]found, error) {
	var items []embedItem
	keep := make([][]detection, len(frames))
	for i, f := range frames {
		for _, d := range dets[i] {
			if min(d.X1-d.X0, d.Y1-d.Y0) < float32(p.cfg.MinFaceSize) {
				continue
			}
			keep[i] = append(keep[i], d)
			items = append(items, embedItem{f: f, m: alignment(d, p.det.d.Keypoints, p.emb.d)})
		}
	}
	p.frames.Add(int64(len(frames)))
	p.faces.Add(int64(len(items)))
	out := make([][]found, len(frames))
	if len(items) == 0 {
		return out, nil
	}
	vecs, err := p.emb.embed(items)
	if err != nil {
		return nil, err
	}
	k := 0
	for i := range frames {
		for _, d := range keep[i] {
			out[i] = append(out[i], found{det: d, emb: vecs[k], quality: quality(d, p.det.d.Keypoints)})
			k++
		}
	}
	return out, nil
}

// quality scores a detection for choosing a face's best frame: detector
// confidence x size (saturating at 112 px) x frontality (the nose between
// the eyes).
func quality(d detection, names []string) float32 {
	side := min(d.X1-d.X0, d.Y1-d.Y0)
	size := min(side/112, 1)
	front := float32(1)
	le, re, nose := -1, -1, -1
	for i, n := range names {
		switch n {
		case "left_eye":
			le = i
		case "right_eye":
			re = i
		case "nose":
			nose = i
		}
	}
	if le >= 0 && re >= 0 && nose >= 0 && max(le, re, nose) < len(d.Points) {
		l := d.Points[nose][0] - d.Points[le][0]
		r := d.Points[re][0] - d.Points[nose][0]
		if l <= 0 || r <= 0 {
			front = 0.1
		} else {
			front = 1 - float32(math.Abs(float64(l-r)))/(l+r)
		}
	}
	return d.Score * size * front
}

// cropRect is the detection's box grown by 30% around its centre.
func cropRect(d detection, f *frame) image.Rectangle {
	cx, cy := (d.X0+d.X1)/2, (d.Y0+d.Y1)/2
	w, h := (d.X1-d.X0)*1.3, (d.Y1-d.Y0)*1.3
	return image.Rect(int(cx-w/2), int(cy-h/2), int(cx+w/2+0.5), int(cy+h/2+0.5)).Intersect(image.Rect(0, 0, f.W, f.H))
}

func faceID(i int) string { return fmt.Sprintf("face-%02d", i+1) }
