package face

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// VideoError is a per-video failure: the file is missing, empty, not a
// video, corrupt or truncated, or decoding timed out.
type VideoError struct {
	Path string
	Err  error
}

func (e *VideoError) Error() string { return "video " + e.Path + ": " + e.Err.Error() }
func (e *VideoError) Unwrap() error { return e.Err }

// Reasons a video fails, for errors.Is.
var (
	ErrNotVideo  = errors.New("not a readable video")
	ErrCorrupt   = errors.New("corrupt or truncated video")
	ErrNoFrames  = errors.New("no frames decoded")
	ErrTimeout   = errors.New("timed out")
	ErrEmptyFile = errors.New("empty file")
)

type videoInfo struct {
	W, H     int // decoded frame size after rotation and downscaling
	Duration float64
}

// probe asks ffprobe for the first video stream's size and rotation.
func probe(ctx context.Context, path string, maxSide int) (videoInfo, error) {
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height:stream_tags=rotate:stream_side_data=rotation:format=duration",
		"-of", "json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return videoInfo{}, ErrTimeout
		}
		return videoInfo{}, fmt.Errorf("%w: %s", ErrNotVideo, firstLine(stderr.String(), err))
	}
	var r struct {
		Streams []struct {
			Width, Height int
			Tags          struct{ Rotate string }
			SideDataList  []struct{ Rotation float64 } `json:"side_data_list"`
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return videoInfo{}, fmt.Errorf("ffprobe output: %w", err)
	}
	if len(r.Streams) == 0 || r.Streams[0].Width <= 0 || r.Streams[0].Height <= 0 {
		return videoInfo{}, fmt.Errorf("%w: no video stream", ErrNotVideo)
	}
	s := r.Streams[0]
	w, h := s.Width, s.Height
	rot, _ := strconv.Atoi(s.Tags.Rotate)
	for _, sd := range s.SideDataList {
		if sd.Rotation != 0 {
			rot = int(sd.Rotation)
		}
	}
	if rot%180 != 0 {
		w, h = h, w
	}
	if m := max(w, h); m > maxSide {
		w = int(float64(w)*float64(maxSide)/float64(m)+0.5) &^ 1
		h = int(float64(h)*float64(maxSide)/float64(m)+0.5) &^ 1
	}
	d, _ := strconv.ParseFloat(r.Format.Duration, 64)
	return videoInfo{W: max(w, 2), H: max(h, 2), Duration: d}, nil
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// tailBuffer keeps the first bytes written to it (ffmpeg's first errors
// explain the most).
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 4096 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// decoded is one sampled video frame.
type decoded struct {
	f     *frame
	index int
}

// decode streams frames of path, sampled at fps and scaled to info's size,
// from ffmpeg over a pipe into recycled buffers. It sends each frame on
// out, and its error (nil on a clean end) on the returned channel once out
// is closed. The caller puts frames back with free.
func decode(ctx context.Context, path string, info videoInfo, fps float64, out chan<- decoded, free <-chan *frame) <-chan error {
	errc := make(chan error, 1)
	// -skip_frame noref: frames no other frame depends on are not decoded
	// (about half of an H.264 stream's); the fps filter then takes the
	// nearest decoded frame, a few frames off at most, and decoding costs
	// about half.
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-skip_frame", "noref", "-i", path,
		"-map", "0:v:0", "-an", "-sn", "-dn",
		"-vf", fmt.Sprintf("fps=%g,scale=%d:%d:flags=area", fps, info.W, info.H),
		"-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
	cmd.WaitDelay = 5 * time.Second
	var stderr tailBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		close(out)
		errc <- fmt.Errorf("ffmpeg: %w", err)
		return errc
	}
	go func() {
		defer close(out)
		r := bufio.NewReaderSize(stdout, 1<<20)
		var readErr error
		for i := 0; ; i++ {
			var f *frame
			select {
			case f = <-free:
			case <-ctx.Done():
			}
			if f == nil {
				break
			}
			if _, readErr = io.ReadFull(r, f.Pix); readErr != nil {
				break
			}
			f.reset()
			out <- decoded{f: f, index: i}
		}
		io.Copy(io.Discard, r)
		waitErr := cmd.Wait()
		switch {
		case ctx.Err() != nil:
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				errc <- ErrTimeout
			} else {
				errc <- ctx.Err()
			}
		case waitErr != nil:
			errc <- fmt.Errorf("%w: ffmpeg: %s", ErrCorrupt, firstLine(stderr.String(), waitErr))
		case stderr.String() != "":
			errc <- fmt.Errorf("%w: %s", ErrCorrupt, firstLine(stderr.String(), nil))
		case readErr == io.ErrUnexpectedEOF:
			errc <- fmt.Errorf("%w: last frame cut short", ErrCorrupt)
		default:
			errc <- nil
		}
	}()
	return errc
}

// VideoFaces finds the unique faces of a video: frames are sampled at
// Config.FPS, faces are detected, aligned and embedded, and the same person
// is followed across frames. Faces are numbered by first appearance, then
// left to right. Decoding (ffmpeg, its own process), detector input
// preparation, detection and alignment+embedding run as overlapping
// stages, with a bounded number of frame buffers in flight.
//
// A missing, empty, non-video, corrupt or truncated file, or one that
// takes longer than Config.VideoTimeout, gives a *VideoError. For a corrupt
// or truncated video the faces of the frames decoded before the damage are
// returned with the error.
func (p *Pipeline) VideoFaces(ctx context.Context, path string) ([]Face, error) {
	faces, err := p.videoFaces(ctx, path)
	if errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w after %v", err, p.cfg.VideoTimeout)
	}
	if err != nil {
		return faces, &VideoError{Path: path, Err: err}
	}
	return faces, nil
}

func (p *Pipeline) videoFaces(ctx context.Context, path string) ([]Face, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().IsRegular() && st.Size() == 0 {
		return nil, ErrEmptyFile
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.VideoTimeout)
	defer cancel()
	info, err := probe(ctx, path, p.cfg.MaxSide)
	if err != nil {
		return nil, err
	}
	batch := p.cfg.Batch
	if mb := p.det.d.Input.MaxBatch; mb > 0 && batch > mb {
		batch = mb
	}
	// Buffers: one batch being inferred, one being prepared, one filling.
	nbuf := 3 * batch
	free := make(chan *frame, nbuf)
	for i := 0; i < nbuf; i++ {
		free <- &frame{W: info.W, H: info.H, Pix: make([]byte, info.W*info.H*3)}
	}
	frames := make(chan decoded, batch)
	decErr := decode(ctx, path, info, p.cfg.FPS, frames, free)

	// Prepare detector batches while the previous one runs.
	batches := make(chan *detBatch, 1)
	go func() {
		defer close(batches)
		for {
			d, ok := <-frames
			if !ok {
				return
			}
			group := []decoded{d}
		fill:
			for len(group) < batch {
				select {
				case d, ok := <-frames:
					if !ok {
						break fill
					}
					group = append(group, d)
				default:
					break fill
				}
			}
			b := p.det.prepare(group)
			select {
			case batches <- b:
			case <-ctx.Done():
				for _, d := range group {
					free <- d.f
				}
				for d := range frames {
					free <- d.f
				}
				return
			}
		}
	}()

	// Detect batch k+1 while batch k is aligned, embedded and tracked.
	type detected struct {
		b    *detBatch
		dets [][]detection
		err  error
	}
	results := make(chan detected, 1)
	go func() {
		defer close(results)
		failed := false
		for b := range batches {
			r := detected{b: b}
			if !failed {
				r.dets, r.err = p.det.run(b)
				failed = r.err != nil
			}
			results <- r
		}
	}()

	tr := newTracker(p)
	var runErr error
	for r := range results {
		if runErr == nil {
			runErr = r.err
			if runErr == nil {
				runErr = p.track(r.b, r.dets, tr)
			}
			if runErr != nil {
				cancel()
			}
		}
		for _, d := range r.b.frames {
			free <- d.f
		}
	}
	err = <-decErr
	if runErr != nil {
		return nil, runErr
	}
	faces, ferr := tr.faces()
	if ferr != nil {
		return nil, ferr
	}
	if err == nil && tr.nframes == 0 {
		err = ErrNoFrames
	}
	return faces, err
}

// track embeds the faces of a detected batch and adds them to the tracker.
func (p *Pipeline) track(b *detBatch, dets [][]detection, tr *tracker) error {
	frames := make([]*frame, len(b.frames))
	for i, d := range b.frames {
		frames[i] = d.f
	}
	found, err := p.embedFaces(frames, dets)
	if err != nil {
		return err
	}
	for i, d := range b.frames {
		tr.add(d, found[i])
	}
	return nil
}
