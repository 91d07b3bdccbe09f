// Package sample makes a realistic, deterministic dataset for demos, tests
// and benchmarks: zones and ground-truth photos built from real labelled
// faces, days of content metadata, short H.264 videos in which zone members
// appear next to strangers (and videos with no face), and the known
// answer: which video shows which zone.
package sample

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// Options shape a sample. The zero value of each field takes its default.
type Options struct {
	Seed         int64
	FirstDay     time.Time // first daily partition (default 2026-11-01)
	Days         int       // daily partitions (default 3)
	VideosPerDay int       // default 8
	Width        int       // video frame size (default 640x360)
	Height       int
	FPS          int // encoded frame rate (default 5)
}

func (o *Options) defaults() {
	if o.FirstDay.IsZero() {
		o.FirstDay = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Days == 0 {
		o.Days = 3
	}
	if o.VideosPerDay == 0 {
		o.VideosPerDay = 8
	}
	if o.Width == 0 {
		o.Width, o.Height = 640, 360
	}
	if o.FPS == 0 {
		o.FPS = 5
	}
}

// AnswerKey is where the known answer is written, in the content bucket.
const AnswerKey = "sample/answer.json"

// Answer is the ground truth of a sample.
type Answer struct {
	Seed    int64         `json:"seed"`
	Batches []AnswerBatch `json:"batches"`
	Days    []string      `json:"days"`
	Videos  []AnswerVideo `json:"videos"`
}

// AnswerBatch is one new-zone upload and the zones it brings.
type AnswerBatch struct {
	Batch string           `json:"batch"`
	Zones []contracts.Zone `json:"zones"`
}

// AnswerVideo is one video and who is in it.
type AnswerVideo struct {
	ContentUUID string   `json:"content_uuid"`
	Day         string   `json:"day"`
	Zones       []string `json:"zones"` // zone ids that appear, sorted
	Strangers   int      `json:"strangers"`
	Views       int64    `json:"views"`
	Likes       int64    `json:"likes"`
	Shares      int64    `json:"shares"`
}

// ZonesByID lists every zone of every batch.
func (a *Answer) ZonesByID() map[string]contracts.Zone {
	m := map[string]contracts.Zone{}
	for _, b := range a.Batches {
		for _, z := range b.Zones {
			m[z.ID] = z
		}
	}
	return m
}

// gtPhotos is how many photos of each known person go to the ground truth;
// the rest appear only in videos.
const gtPhotos = 4

// Generate writes a sample into the buckets and returns its answer. It is
// deterministic for opt.Seed; if the content bucket already holds the
// answer of the same seed it returns that without writing anything.
func Generate(ctx context.Context, b *layout.Buckets, photos *Photos, opt Options) (*Answer, error) {
	opt.defaults()
	if old, err := ReadAnswer(ctx, b.Content); err == nil && old.Seed == opt.Seed {
		slog.Info("sample already present", "seed", opt.Seed, "videos", len(old.Videos))
		return old, nil
	}
	rng := rand.New(rand.NewSource(opt.Seed))
	ans := &Answer{Seed: opt.Seed}

	// Two uploads: the first zones before the first day, the rest after the
	// last day, so that the new-zone runner has unidentified faces to find.
	people := rng.Perm(len(photos.Known))
	zoneOf := map[int]contracts.Zone{}
	split := (len(people) + 1) / 2
	uploads := []struct {
		batch  layout.Batch
		people []int
	}{
		{layout.Batch{Date: opt.FirstDay.AddDate(0, 0, -1), Num: 1}, people[:split]},
		{layout.Batch{Date: opt.FirstDay.AddDate(0, 0, opt.Days), Num: 1}, people[split:]},
	}
	for _, up := range uploads {
		ab := AnswerBatch{Batch: up.batch.String()}
		for _, p := range up.people {
			person := photos.Known[p]
			z := contracts.Zone{ID: uuid(rng), Name: strings.ReplaceAll(person.Name, "_", " "), Keywords: []string{strings.ToLower(strings.SplitN(person.Name, "_", 2)[1]), "celebrity"}}
			zoneOf[p] = z
			ab.Zones = append(ab.Zones, z)
			for i := range gtPhotos {
				img := portrait(person.Photos[i], rng)
				key := layout.GroundTruthImages(up.batch) + z.ID + fmt.Sprintf("/img-%d.jpg", i+1)
				if err := putJPEG(ctx, b.External, key, img); err != nil {
					return nil, err
				}
			}
		}
		var csv bytes.Buffer
		if err := contracts.WriteZoneList(&csv, ab.Zones); err != nil {
			return nil, err
		}
		if err := store.PutBytes(ctx, b.External, layout.ZoneList(up.batch), csv.Bytes()); err != nil {
			return nil, err
		}
		ans.Batches = append(ans.Batches, ab)
	}

	// Days of videos.
	tmp, err := os.MkdirTemp("", "cz-sample-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for d := range opt.Days {
		day := opt.FirstDay.AddDate(0, 0, d)
		ans.Days = append(ans.Days, day.Format(contracts.DateLayout))
		var rows []contracts.ContentMetadata
		for v := range opt.VideosPerDay {
			id := uuid(rng)
			scenes, truth := planVideo(rng, photos, zoneOf, v == 0)
			truth.ContentUUID, truth.Day = id, day.Format(contracts.DateLayout)
			path := filepath.Join(tmp, id+".mp4")
			secs, err := encodeVideo(ctx, path, scenes, opt, rng)
			if err != nil {
				return nil, fmt.Errorf("sample video %s: %w", id, err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			if err := store.PutBytes(ctx, b.Content, layout.Video(id), data); err != nil {
				return nil, err
			}
			os.Remove(path)
			// Engagement: log-normal views, so that about a quarter of the
			// videos fall under the default minimum of 100 views.
			views := int64(math.Exp(5.3 + 1.6*rng.NormFloat64()))
			likes := int64(float64(views) * (0.01 + 0.09*rng.Float64()))
			shares := int64(float64(likes) * (0.05 + 0.25*rng.Float64()))
			truth.Views, truth.Likes, truth.Shares = views, likes, shares
			rows = append(rows, contracts.ContentMetadata{
				ContentUUID:     id,
				VideoLocation:   layout.Video(id),
				UploadTS:        day.Add(time.Duration(rng.Int63n(int64(24 * time.Hour)))).Truncate(time.Microsecond),
				Views:           views,
				Likes:           likes,
				Shares:          shares,
				DurationSeconds: secs,
				SizeBytes:       int64(len(data)),
				Width:           int32(opt.Width),
				Height:          int32(opt.Height),
				Language:        []string{"en", "pt-BR", "hi", "es"}[rng.Intn(4)],
				CreatorID:       fmt.Sprintf("creator-%03d", rng.Intn(50)),
				Tags:            []string{[]string{"music", "sports", "comedy", "news"}[rng.Intn(4)]},
			})
			ans.Videos = append(ans.Videos, truth)
		}
		var pq bytes.Buffer
		if err := contracts.WriteContentMetadata(&pq, rows, day); err != nil {
			return nil, err
		}
		if err := store.PutBytes(ctx, b.Content, layout.ContentPartition(day)+"part-00000.parquet", pq.Bytes()); err != nil {
			return nil, err
		}
		slog.Info("sample day written", "day", day.Format(contracts.DateLayout), "videos", len(rows))
	}
	data, _ := json.MarshalIndent(ans, "", "  ")
	if err := store.PutBytes(ctx, b.Content, AnswerKey, data); err != nil {
		return nil, err
	}
	return ans, nil
}

// ReadAnswer reads the known answer of the sample in a content bucket.
func ReadAnswer(ctx context.Context, content store.Bucket) (*Answer, error) {
	data, err := store.ReadAll(ctx, content, AnswerKey)
	if err != nil {
		return nil, err
	}
	var a Answer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("%s: %w", store.Join(content.URL(), AnswerKey), err)
	}
	return &a, nil
}

// scene is a few seconds of video showing some faces on a background.
type scene struct {
	faces []image.Image
	bg    color.RGBA
	still image.Image // a faceless photo instead of faces
}

// planVideo picks the scenes of one video: faceless if asked, else one to
// three scenes with one or two people, known or not.
func planVideo(rng *rand.Rand, photos *Photos, zoneOf map[int]contracts.Zone, faceless bool) ([]scene, AnswerVideo) {
	var truth AnswerVideo
	if faceless {
		return []scene{{still: photos.Scenery}, {bg: randColor(rng)}}, truth
	}
	zones := map[string]bool{}
	n := 1 + rng.Intn(3)
	scenes := make([]scene, n)
	for i := range scenes {
		s := scene{bg: randColor(rng)}
		for range 1 + rng.Intn(2) {
			if rng.Float64() < 0.7 {
				p := rng.Intn(len(photos.Known))
				person := photos.Known[p]
				s.faces = append(s.faces, person.Photos[gtPhotos+rng.Intn(len(person.Photos)-gtPhotos)])
				zones[zoneOf[p].ID] = true
			} else {
				s.faces = append(s.faces, photos.Strangers[rng.Intn(len(photos.Strangers))])
				truth.Strangers++
			}
		}
		scenes[i] = s
	}
	for z := range zones {
		truth.Zones = append(truth.Zones, z)
	}
	slices.Sort(truth.Zones)
	return scenes, truth
}

// sceneSeconds is how long each scene lasts.
const sceneSeconds = 2

// encodeVideo draws the scenes frame by frame (faces drift slowly, as a
// camera pans) and pipes them to ffmpeg's H.264 encoder. It returns the
// duration in seconds.
func encodeVideo(ctx context.Context, path string, scenes []scene, opt Options, rng *rand.Rand) (float64, error) {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", opt.Width, opt.Height), "-r", fmt.Sprint(opt.FPS), "-i", "pipe:0",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-threads", "1",
		"-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", "-movflags", "+faststart", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start ffmpeg: %w (run make deps)", err)
	}
	frames := 0
	werr := func() error {
		defer in.Close()
		canvas := image.NewRGBA(image.Rect(0, 0, opt.Width, opt.Height))
		rgb := make([]byte, opt.Width*opt.Height*3)
		for _, s := range scenes {
			placed := layoutFaces(s, opt, rng)
			for f := range sceneSeconds * opt.FPS {
				drawScene(canvas, s, placed, f)
				toRGB(rgb, canvas)
				if _, err := in.Write(rgb); err != nil {
					return err
				}
				frames++
			}
		}
		return nil
	}()
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("ffmpeg: %w: %s", err, stderr.String())
	}
	if werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return 0, werr
	}
	return float64(frames) / float64(opt.FPS), nil
}

type placedFace struct {
	img  *image.RGBA
	at   image.Point
	step image.Point
}

// layoutFaces sizes the faces of a scene (120-190 px tall) and spreads
// them across the frame.
func layoutFaces(s scene, opt Options, rng *rand.Rand) []placedFace {
	var out []placedFace
	slot := opt.Width / max(1, len(s.faces))
	for i, f := range s.faces {
		size := 120 + rng.Intn(70)
		img := fit(f, size, size)
		x := i*slot + rng.Intn(max(1, slot-img.Bounds().Dx()))
		y := rng.Intn(max(1, opt.Height-img.Bounds().Dy()))
		out = append(out, placedFace{img: img, at: image.Pt(x, y), step: image.Pt(rng.Intn(3)-1, rng.Intn(3)-1)})
	}
	return out
}

func drawScene(canvas *image.RGBA, s scene, faces []placedFace, frame int) {
	if s.still != nil {
		draw.Draw(canvas, canvas.Bounds(), fit(s.still, canvas.Bounds().Dx(), canvas.Bounds().Dy()), image.Point{}, draw.Src)
		return
	}
	draw.Draw(canvas, canvas.Bounds(), image.NewUniform(s.bg), image.Point{}, draw.Src)
	for _, f := range faces {
		at := f.at.Add(f.step.Mul(frame))
		draw.Draw(canvas, f.img.Bounds().Add(at), f.img, image.Point{}, draw.Src)
	}
}

func toRGB(dst []byte, img *image.RGBA) {
	for i, j := 0, 0; i < len(img.Pix); i, j = i+4, j+3 {
		dst[j], dst[j+1], dst[j+2] = img.Pix[i], img.Pix[i+1], img.Pix[i+2]
	}
}

// portrait pads a tight face chip into a head-and-shoulders sized photo,
// as an uploaded ground-truth picture would be.
func portrait(face image.Image, rng *rand.Rand) image.Image {
	const side = 320
	canvas := image.NewRGBA(image.Rect(0, 0, side, side))
	draw.Draw(canvas, canvas.Bounds(), image.NewUniform(randColor(rng)), image.Point{}, draw.Src)
	f := fit(face, 180, 180)
	off := image.Pt((side-f.Bounds().Dx())/2, (side-f.Bounds().Dy())/2)
	draw.Draw(canvas, f.Bounds().Add(off), f, image.Point{}, draw.Src)
	return canvas
}

func putJPEG(ctx context.Context, b store.Bucket, key string, img image.Image) error {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
		return err
	}
	return store.PutBytes(ctx, b, key, buf.Bytes())
}

func randColor(rng *rand.Rand) color.RGBA {
	return color.RGBA{uint8(40 + rng.Intn(180)), uint8(40 + rng.Intn(180)), uint8(40 + rng.Intn(180)), 255}
}

// uuid draws a version-4 UUID from rng, so that samples are reproducible.
func uuid(rng *rand.Rand) string {
	var b [16]byte
	rng.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
