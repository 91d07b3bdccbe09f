package jobs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/face"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/npy"
	"github.com/celebrity-zones/cz/store"
)

// inference runs candidate videos through the face pipeline and the
// latest index, writing each video's faces, embeddings and metadata to the
// seed's fixed keys (deterministic overwrites, so a repeated attempt writes
// the same objects) and collecting the rows that publish turns into the
// intermediate Parquet and the predicted-data CSV.
type inference struct {
	t       *engine.Task
	cfg     Config
	b       *layout.Buckets
	pipe    *face.Pipeline
	index   *ann.Index
	version string
	zones   map[string]contracts.Zone
	runner  contracts.Runner
	run     string

	out stageRows
}

// stageRows are what an inference or reclassify task hands to publish.
type stageRows struct {
	Faces     []contracts.IntermediateFace `json:"faces"`
	Predicted []contracts.PredictedRow     `json:"predicted"`
	Failures  []VideoFailure               `json:"failures"`
	Videos    int                          `json:"videos"`
}

// VideoFailure is a video that could not be processed; the rest of the
// batch goes on without it.
type VideoFailure struct {
	ContentUUID   string `json:"content_uuid"`
	VideoLocation string `json:"video_location"`
	Error         string `json:"error"`
}

func newInference(ctx context.Context, t *engine.Task, c Config, runner contracts.Runner, run string) (*inference, error) {
	b, err := openBuckets(ctx, c.Buckets)
	if err != nil {
		return nil, err
	}
	pipe, err := openPipeline(c.Face)
	if err != nil {
		return nil, err
	}
	index, version, err := latestIndex(ctx, b.Internal, pipe.ModelName())
	if err != nil {
		return nil, err
	}
	zones, err := loadZones(ctx, b.Internal)
	if err != nil {
		return nil, err
	}
	return &inference{t: t, cfg: c, b: b, pipe: pipe, index: index, version: version, zones: zones, runner: runner, run: run,
		out: stageRows{Faces: []contracts.IntermediateFace{}, Predicted: []contracts.PredictedRow{}, Failures: []VideoFailure{}}}, nil
}

// latestIndex loads the index version the latest pointer names.
func latestIndex(ctx context.Context, internal store.Bucket, model string) (*ann.Index, string, error) {
	x, version, err := ann.LoadLatest(ctx, internal, layout.Index(model))
	if errors.Is(err, store.ErrNotExist) {
		return nil, "", engine.Fatal(fmt.Errorf("no index is published for model %s under %s: run the new-zone batch runner first",
			model, store.Join(internal.URL(), layout.Index(model))))
	}
	if err != nil {
		return nil, "", err
	}
	return x, version, nil
}

// video finds, identifies and records one candidate's faces. A video at
// fault (see videoProblem) is reported and the batch goes on; any other
// error fails the attempt, which runs again, elsewhere if it can.
func (inf *inference) video(ctx context.Context, cand Candidate) error {
	inf.out.Videos++
	err := inf.process(ctx, cand)
	switch {
	case err == nil:
		inf.t.Count("videos", 1)
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case !videoProblem(err):
		return fmt.Errorf("content %s (%s): %w", cand.ContentUUID, cand.VideoLocation, err)
	}
	inf.t.Log.Warn("video failed", "content_uuid", cand.ContentUUID, "video", cand.VideoLocation, "err", err)
	inf.t.Problem("content %s (%s): %v", cand.ContentUUID, cand.VideoLocation, err)
	inf.t.Count("videos_failed", 1)
	inf.out.Failures = append(inf.out.Failures, VideoFailure{cand.ContentUUID, cand.VideoLocation, err.Error()})
	return nil
}

// recordError marks a candidate whose own records are wrong or missing.
type recordError struct{ err error }

func (e *recordError) Error() string { return e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

// videoProblem reports whether err is the candidate's own fault: a video
// that is missing, empty, not a video, corrupt or too slow to decode, or
// records of it that are missing or inconsistent. A full disk, a store
// that keeps failing or a broken model is not: retrying elsewhere can
// succeed, and reporting the video as bad would lose it.
func videoProblem(err error) bool {
	var ve *face.VideoError
	var re *recordError
	return errors.As(err, &ve) || errors.As(err, &re) || errors.Is(err, store.ErrNotExist)
}

func (inf *inference) process(ctx context.Context, cand Candidate) error {
	path, cleanup, err := localVideo(ctx, inf.b.Content, cand.VideoLocation)
	if err != nil {
		return err
	}
	defer cleanup()
	faces, err := inf.pipe.VideoFaces(ctx, path)
	if err != nil {
		return err
	}
	// The video's faces, embeddings and metadata are shared objects: only
	// the attempt holding the commit grant writes them (asked per video,
	// so an attempt written off meanwhile stops at the next one).
	if err := inf.t.Authorize(ctx); err != nil {
		return err
	}
	model := inf.pipe.ModelName()
	now := time.Now().UTC()
	var results []contracts.FaceResult
	for _, f := range faces {
		faceKey := layout.CandidateFace(cand.ContentUUID, f.ID)
		if err := store.PutBytes(ctx, inf.b.Internal, faceKey, f.Crop); err != nil {
			return err
		}
		emb := npy.Encode(f.Embedding)
		if err := store.PutBytes(ctx, inf.b.Internal, layout.CandidateEmbedding(model, layout.Complete, cand.ContentUUID, f.ID), emb); err != nil {
			return err
		}
		res, nearestZone := inf.classify(f.ID, f.Embedding)
		unidentified := layout.CandidateEmbedding(model, layout.Unidentified, cand.ContentUUID, f.ID)
		if res.ZoneID != "" {
			err = inf.b.Internal.Delete(ctx, unidentified)
			inf.out.Predicted = append(inf.out.Predicted, inf.predictedRow(cand.ContentMetadata, f.ID, faceKey, res))
		} else {
			err = store.PutBytes(ctx, inf.b.Internal, unidentified, emb)
		}
		if err != nil {
			return err
		}
		results = append(results, res)
		inf.out.Faces = append(inf.out.Faces, contracts.IntermediateFace{
			ContentUUID: cand.ContentUUID, FaceID: f.ID, ZoneID: res.ZoneID, NearestZoneID: nearestZone, Distance: res.NearestDistance,
			Quality: f.Quality, FrameMillis: f.First.Milliseconds(),
			BoxX: int32(f.Box.Min.X), BoxY: int32(f.Box.Min.Y), BoxW: int32(f.Box.Dx()), BoxH: int32(f.Box.Dy()),
			FaceImage: faceKey, EmbeddingModelName: model, IndexVersion: inf.version,
			Runner: inf.runner, Run: inf.run, JobID: inf.t.ID.Job, Attempt: int32(inf.t.ID.Attempt), ProcessedAt: now.Truncate(time.Millisecond),
		})
	}
	inf.t.Count("faces", int64(len(faces)))
	meta, err := contracts.NewCandidateMetadata(cand.ContentUUID, model, cand.UploadTS, results, now)
	if err != nil {
		return err
	}
	return writeMetadata(ctx, inf.b.Internal, meta)
}

// classify names a face's zone under the run's rule; the nearest zone and
// distance are kept either way.
func (inf *inference) classify(faceID string, emb []float32) (contracts.FaceResult, string) {
	return inf.classifyHits(faceID, inf.index.Search(emb, inf.cfg.rule(inf.pipe).K))
}

// classifyHits classifies a face from its nearest ground-truth faces.
func (inf *inference) classifyHits(faceID string, hits []ann.Hit) (contracts.FaceResult, string) {
	res := contracts.FaceResult{FaceID: faceID}
	nearestZone := ""
	if len(hits) > 0 {
		res.NearestDistance = float64(hits[0].Distance)
		nearestZone = hits[0].Label
	}
	if cls, ok := ann.ClassifyHits(hits, inf.cfg.rule(inf.pipe)); ok {
		res.ZoneID, res.Distance = cls.Zone, float64(cls.Distance)
	}
	return res, nearestZone
}

func (inf *inference) predictedRow(c contracts.ContentMetadata, faceID, faceKey string, res contracts.FaceResult) contracts.PredictedRow {
	return contracts.PredictedRow{
		Runner: inf.runner, Run: inf.run, JobID: inf.t.ID.Job, ContentUUID: c.ContentUUID, VideoLocation: c.VideoLocation,
		FaceID: faceID, FaceImage: faceKey, ZoneID: res.ZoneID, ZoneName: zoneName(inf.zones, res.ZoneID), Distance: res.Distance,
		EmbeddingModelName: inf.pipe.ModelName(),
	}
}

func zoneName(zones map[string]contracts.Zone, id string) string {
	if z, ok := zones[id]; ok {
		return z.Name
	}
	return id
}

func (inf *inference) finish(ctx context.Context) error {
	return putJSON(ctx, inf.t, "rows.json", inf.out)
}

// writeMetadata writes a candidate's metadata, merged with what an earlier
// run recorded so that no identification is ever lost.
func writeMetadata(ctx context.Context, internal store.Bucket, meta contracts.CandidateMetadata) error {
	key := layout.CandidateMetadata(meta.EmbeddingModelName, meta.ContentUUID)
	old, err := store.ReadAll(ctx, internal, key)
	switch {
	case err == nil:
		prev, perr := contracts.ParseCandidateMetadata(key, old)
		if perr != nil {
			return perr
		}
		if meta, err = contracts.Merge(prev, meta); err != nil {
			return err
		}
	case !errors.Is(err, store.ErrNotExist):
		return err
	}
	data, err := contracts.MarshalCandidateMetadata(meta)
	if err != nil {
		return err
	}
	return store.PutBytes(ctx, internal, key, data)
}

// localVideo makes a video readable by ffmpeg: a path inside a local
// bucket is used in place, anything else is copied to a temporary file.
func localVideo(ctx context.Context, content store.Bucket, location string) (string, func(), error) {
	none := func() {}
	if u, err := url.Parse(location); err == nil && u.Scheme == "file" {
		return u.Path, none, nil
	}
	var src store.Bucket = content
	key := location
	if strings.HasPrefix(location, "s3://") {
		u, _ := url.Parse(location)
		b, err := store.Open(ctx, "s3://"+u.Host)
		if err != nil {
			return "", none, err
		}
		src, key = b, strings.TrimPrefix(u.Path, "/")
	}
	if d, ok := src.(*store.Dir); ok {
		p := filepath.Join(d.Root(), filepath.FromSlash(key))
		if _, err := os.Stat(p); err != nil {
			return "", none, fmt.Errorf("video %s: %w", store.Join(d.URL(), key), store.ErrNotExist)
		}
		return p, none, nil
	}
	r, err := src.Get(ctx, key)
	if err != nil {
		return "", none, err
	}
	defer r.Close()
	f, err := os.CreateTemp("", "cz-video-*"+filepath.Ext(key))
	if err != nil {
		return "", none, err
	}
	cleanup := func() { os.Remove(f.Name()) }
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		cleanup()
		return "", none, fmt.Errorf("download %s: %w", store.Join(src.URL(), key), err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", none, err
	}
	return f.Name(), cleanup, nil
}

// publish gathers the rows of every task of stage and writes the run's
// intermediate Parquet (one file, so a re-run replaces it) and its
// predicted-data CSV, sorted, so the same input gives the same files.
func publish(ctx context.Context, t *engine.Task, b *layout.Buckets, stage, intermediatePrefix, predictedKey string) error {
	var all stageRows
	for _, o := range t.Inputs(stage) {
		if o.Name != "rows.json" {
			continue
		}
		var part stageRows
		if err := readJSON(ctx, t, o, &part); err != nil {
			return err
		}
		all.Faces = append(all.Faces, part.Faces...)
		all.Predicted = append(all.Predicted, part.Predicted...)
		all.Failures = append(all.Failures, part.Failures...)
		all.Videos += part.Videos
	}
	// A re-run keeps what an earlier run of the same day or batch found
	// (a batch re-run finds its faces already out of the unidentified
	// pool): rows merge by (content, face), the newer run's winning.
	faces, err := mergeIntermediate(ctx, b.Internal, intermediatePrefix+"part-00000.parquet", all.Faces)
	if err != nil {
		return err
	}
	predicted, err := mergePredicted(ctx, b.External, predictedKey, all.Predicted)
	if err != nil {
		return err
	}
	all.Faces, all.Predicted = faces, predicted
	slices.SortFunc(all.Failures, func(a, b VideoFailure) int { return cmp.Compare(a.ContentUUID, b.ContentUUID) })
	var pq bytes.Buffer
	if err := contracts.WriteIntermediate(&pq, all.Faces); err != nil {
		return engine.Fatal(err)
	}
	// The files are the run's visible result: one attempt writes them.
	if err := t.Authorize(ctx); err != nil {
		return err
	}
	if err := store.PutBytes(ctx, b.Internal, intermediatePrefix+"part-00000.parquet", pq.Bytes()); err != nil {
		return err
	}
	var csv bytes.Buffer
	if err := contracts.WritePredicted(&csv, all.Predicted); err != nil {
		return engine.Fatal(err)
	}
	if err := store.PutBytes(ctx, b.External, predictedKey, csv.Bytes()); err != nil {
		return err
	}
	sum := RunSummary{Videos: all.Videos, Faces: len(all.Faces), Identified: len(all.Predicted), Failures: all.Failures,
		IntermediateKey: intermediatePrefix + "part-00000.parquet", PredictedKey: predictedKey}
	t.Count("identified", int64(len(all.Predicted)))
	t.Log.Info("published", "videos", sum.Videos, "faces", sum.Faces, "identified", sum.Identified, "failed_videos", len(sum.Failures),
		"predicted", store.Join(b.External.URL(), predictedKey))
	return putJSON(ctx, t, "summary.json", sum)
}

type faceKey = [2]string // content uuid, face id

// mergeIntermediate unites rows with those already in the file at key.
func mergeIntermediate(ctx context.Context, b store.Bucket, key string, rows []contracts.IntermediateFace) ([]contracts.IntermediateFace, error) {
	data, err := store.ReadAll(ctx, b, key)
	if errors.Is(err, store.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var old []contracts.IntermediateFace
	if data != nil {
		if old, err = contracts.ReadIntermediate(store.Join(b.URL(), key), bytes.NewReader(data), int64(len(data))); err != nil {
			return nil, engine.Fatal(err)
		}
	}
	merged := unite(old, rows, func(f contracts.IntermediateFace) faceKey { return faceKey{f.ContentUUID, f.FaceID} })
	return merged, nil
}

// mergePredicted unites rows with those already in the CSV at key.
func mergePredicted(ctx context.Context, b store.Bucket, key string, rows []contracts.PredictedRow) ([]contracts.PredictedRow, error) {
	data, err := store.ReadAll(ctx, b, key)
	if errors.Is(err, store.ErrNotExist) {
		return unite(nil, rows, predictedKey), nil
	}
	if err != nil {
		return nil, err
	}
	old, err := contracts.ParsePredicted(store.Join(b.URL(), key), bytes.NewReader(data))
	if err != nil {
		return nil, engine.Fatal(err)
	}
	return unite(old, rows, predictedKey), nil
}

func predictedKey(r contracts.PredictedRow) faceKey { return faceKey{r.ContentUUID, r.FaceID} }

// unite returns old and newer merged by key, newer winning, sorted by key.
func unite[T any](old, newer []T, key func(T) faceKey) []T {
	byKey := map[faceKey]T{}
	for _, r := range old {
		byKey[key(r)] = r
	}
	for _, r := range newer {
		byKey[key(r)] = r
	}
	out := make([]T, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b T) int {
		ka, kb := key(a), key(b)
		return cmp.Or(cmp.Compare(ka[0], kb[0]), cmp.Compare(ka[1], kb[1]))
	})
	return out
}

// RunSummary is the last stage's output of both runners.
type RunSummary struct {
	Videos          int            `json:"videos"`
	Faces           int            `json:"faces"`
	Identified      int            `json:"identified"`
	Failures        []VideoFailure `json:"failures"`
	IntermediateKey string         `json:"intermediate_key"`
	PredictedKey    string         `json:"predicted_key"`
	IndexVersion    string         `json:"index_version,omitempty"`
}

func readJSON(ctx context.Context, t *engine.Task, o engine.Output, v any) error {
	data, err := t.ReadInput(ctx, o)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return engine.Fatal(fmt.Errorf("%s: %w", o.Key, err))
	}
	return nil
}
