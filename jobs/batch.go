package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/face"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/npy"
	"github.com/celebrity-zones/cz/shuffle"
	"github.com/celebrity-zones/cz/store"
)

// Operators of the New Celebrity Zone Batch Runner.
const (
	opBatchGroundTruth = "batch.groundtruth"
	opBatchIndex       = "batch.index"
	opBatchSearch      = "batch.search"
	opBatchReclassify  = "batch.reclassify"
	opBatchPublish     = "batch.publish"
)

func init() {
	engine.Register(opBatchGroundTruth, underLock(batchGroundTruth, false))
	engine.Register(opBatchIndex, underLock(batchIndex, false))
	engine.Register(opBatchSearch, underLock(batchSearch, false))
	engine.Register(opBatchReclassify, underLock(batchReclassify, false))
	engine.Register(opBatchPublish, underLock(batchPublish, true))
}

// underLock runs a stage of a batch job holding the job's ground-truth
// lock, renewed while the stage runs. The lock is dropped after the last
// stage, and when a stage fails for good (the job is over, and the next
// batch need not wait for the lock to go stale); after a retryable error
// the job may go on, so it keeps it.
func underLock(op engine.Operator, last bool) engine.Operator {
	return func(ctx context.Context, t *engine.Task) error {
		_, b, err := taskSetup(ctx, t)
		if err != nil {
			return err
		}
		stopRenewing, err := holdLock(ctx, t, b.Internal)
		if err != nil {
			return err
		}
		err = op(ctx, t)
		stopRenewing()
		if (err == nil && last) || engine.IsFatal(err) {
			if rerr := releaseLock(ctx, b.Internal, groundTruthLock, t.ID.Job); err == nil {
				err = rerr
			}
		}
		return err
	}
}

// groundTruthLock serialises batch runs: each rewrites the ground-truth
// set and the index. It is held from the first stage to the last.
const groundTruthLock = "ground-truth"

// Lock timing: every stage of the holding job renews the lock while it
// runs, so a lock goes stale lockTTL after its job stopped (crashed or
// failed); a run waits up to lockWait for a concurrent batch.
var (
	lockTTL  = 3 * time.Minute
	lockWait = 30 * time.Minute
)

// BatchSpec is the New Celebrity Zone Batch Runner for one upload:
//
//	groundtruth (1 task)  lock; validate the zone list and photos; embed and write the GT faces
//	index       (1 task)  rebuild the index from every GT face; publish vN; move latest
//	search      (S tasks) one index shard each: nearest GT faces of every pooled face,
//	                      shuffled by content uuid
//	reclassify  (P tasks) merge the shards' hits per face, classify, update the videos
//	publish     (1 task)  intermediate Parquet, predicted-data CSV; unlock
func BatchSpec(batch layout.Batch, c Config) engine.JobSpec {
	c.defaults()
	return engine.JobSpec{
		Version: engine.SpecVersion,
		Name:    layout.NewBatchRunner + "-" + batch.String(),
		Params:  map[string]string{paramConfig: c.param(), "runner": layout.NewBatchRunner, "batch": batch.String()},
		// Validation failures are fatal; lock waits and store errors retry.
		MaxAttempts: 3,
		Stages: []engine.StageSpec{
			{Name: "groundtruth", Operator: opBatchGroundTruth, Partitions: 1, Resources: engine.Resources{CPU: 1, MemoryMB: 1024}},
			{Name: "index", Operator: opBatchIndex, Partitions: 1, Upstream: []string{"groundtruth"}, Resources: engine.Resources{CPU: 1, MemoryMB: 1024}},
			{Name: "search", Operator: opBatchSearch, Partitions: c.Shards, Upstream: []string{"index"}, Locality: shardKeys(c.Shards),
				Params: map[string]string{"reducers": strconv.Itoa(c.Partitions)}, Resources: engine.Resources{CPU: 1, MemoryMB: 1024}},
			{Name: "reclassify", Operator: opBatchReclassify, Partitions: c.Partitions, Upstream: []string{"search"}, Resources: engine.Resources{CPU: 1, MemoryMB: 512}},
			{Name: "publish", Operator: opBatchPublish, Partitions: 1, Upstream: []string{"reclassify", "index"}, Resources: engine.Resources{CPU: 1, MemoryMB: 512}},
		},
	}
}

// shardKeys names each search task's index shard, so the scheduler can
// send a shard's task where that shard is already loaded.
func shardKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("ann-shard-%d-of-%d", i, n)
	}
	return keys
}

func batchOf(t *engine.Task) (layout.Batch, error) {
	b, err := contracts.ParseBatchID(t.Param("batch"))
	if err != nil {
		return b, engine.Fatal(err)
	}
	return b, nil
}

// ValidationReport is written next to an upload that failed validation,
// listing every problem found.
type ValidationReport struct {
	Batch    string    `json:"batch"`
	Valid    bool      `json:"valid"`
	Problems []string  `json:"problems"`
	Checked  time.Time `json:"checked"`
}

// gtFace is one ground-truth face ready to be written.
type gtFace struct {
	zone   string
	source string // batch/zone/image
	face   face.Face
}

func batchGroundTruth(ctx context.Context, t *engine.Task) error {
	c, b, err := taskSetup(ctx, t)
	if err != nil {
		return err
	}
	batch, err := batchOf(t)
	if err != nil {
		return err
	}
	pipe, err := openPipeline(c.Face)
	if err != nil {
		return err
	}
	zones, faces, problems, err := readUpload(ctx, b.External, batch, pipe)
	if err != nil {
		return err
	}
	report := ValidationReport{Batch: batch.String(), Valid: len(problems) == 0, Problems: problems, Checked: time.Now().UTC()}
	// The report, the ground truth and the zone registry are shared
	// objects: one attempt writes them.
	if err := t.Authorize(ctx); err != nil {
		return err
	}
	if !report.Valid {
		// Nothing of the batch is written: only the report, for the team.
		data, _ := json.MarshalIndent(report, "", "  ")
		if err := store.PutBytes(ctx, b.External, layout.ValidationReport(batch), data); err != nil {
			return err
		}
		return engine.Fatal(fmt.Errorf("batch %s is invalid (%d problems, report at %s): %s", batch, len(problems),
			store.Join(b.External.URL(), layout.ValidationReport(batch)), strings.Join(problems, "; ")))
	}
	b.External.Delete(ctx, layout.ValidationReport(batch))
	if err := writeGroundTruth(ctx, b.Internal, pipe.ModelName(), faces); err != nil {
		return err
	}
	registry, err := loadZones(ctx, b.Internal)
	if err != nil {
		return err
	}
	for _, z := range zones {
		registry[z.ID] = z
	}
	if err := saveZones(ctx, b.Internal, registry); err != nil {
		return err
	}
	t.Count("zones", int64(len(zones)))
	t.Count("gt_faces", int64(len(faces)))
	t.Log.Info("ground truth written", "batch", batch.String(), "zones", len(zones), "faces", len(faces))
	return putJSON(ctx, t, "zones.json", zones)
}

// holdLock takes the ground-truth lock for this job, waiting for a
// concurrent batch run to finish, and renews it until the returned
// function is called.
func holdLock(ctx context.Context, t *engine.Task, internal store.Bucket) (func(), error) {
	deadline := time.Now().Add(lockWait)
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		err := acquireLock(ctx, internal, groundTruthLock, t.ID.Job, lockTTL, time.Now())
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			return nil, err
		}
		t.Log.Info("waiting for another batch run", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(lockTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := acquireLock(ctx, internal, groundTruthLock, t.ID.Job, lockTTL, time.Now()); err != nil {
					t.Log.Warn("could not renew the ground-truth lock", "err", err)
				}
			}
		}
	}()
	return func() { close(stop); <-done }, nil
}

// readUpload validates a batch's zone list and photos and finds the face
// in each photo. It returns every problem found; no problem means the
// batch may be written.
func readUpload(ctx context.Context, ext store.Bucket, batch layout.Batch, pipe *face.Pipeline) ([]contracts.Zone, []gtFace, []string, error) {
	listKey := layout.ZoneList(batch)
	data, err := store.ReadAll(ctx, ext, listKey)
	if errors.Is(err, store.ErrNotExist) {
		return nil, nil, []string{fmt.Sprintf("%s: the zone list is missing", store.Join(ext.URL(), listKey))}, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	zones, err := contracts.ParseZoneList(store.Join(ext.URL(), listKey), bytes.NewReader(data))
	if err != nil {
		return nil, nil, problemList(err), nil
	}
	prefix := layout.GroundTruthImages(batch)
	list, err := ext.List(ctx, prefix, "")
	if err != nil {
		return nil, nil, nil, err
	}
	var files []contracts.GroundTruthFile
	for _, o := range list.Objects {
		key := o.Key
		files = append(files, contracts.GroundTruthFile{Key: store.Join(ext.URL(), key), Rel: strings.TrimPrefix(key, prefix), Size: o.Size,
			Open: func() (io.ReadCloser, error) { return ext.Get(ctx, key) }})
	}
	if ps := contracts.ValidateGroundTruth(zones, files); len(ps) > 0 {
		return nil, nil, problemList(ps), nil
	}
	var faces []gtFace
	var problems []string
	for _, f := range files {
		zone, _, _ := strings.Cut(f.Rel, "/")
		r, err := f.Open()
		if err != nil {
			return nil, nil, nil, err
		}
		img, _, err := image.Decode(r)
		r.Close()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.Key, err))
			continue
		}
		found, err := pipe.ImageFaces(ctx, img)
		if err != nil {
			return nil, nil, nil, err
		}
		if len(found) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no face found; expected a photo of the zone's celebrity", f.Key))
			continue
		}
		// A photo may show others too: the largest face is the subject.
		best := slices.MaxFunc(found, func(a, b face.Face) int { return area(a.Box) - area(b.Box) })
		faces = append(faces, gtFace{zone: zone, source: batch.String() + "/" + f.Rel, face: best})
	}
	return zones, faces, problems, nil
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// problemList spells out a contract error, one problem a line.
func problemList(err error) []string {
	var ps contracts.Problems
	if errors.As(err, &ps) {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		return out
	}
	return []string{err.Error()}
}

// gtSources records, per zone, which uploaded photo each ground-truth face
// came from, so that re-running a batch rewrites the same face numbers.
type gtSources map[string]string // face-NN -> batch/zone/image

func gtSourcesKey(zone string) string { return layout.GroundTruthFaces(zone) + "sources.json" }

// writeGroundTruth writes each face's crop and embedding, numbering new
// photos after the zone's existing faces.
func writeGroundTruth(ctx context.Context, internal store.Bucket, model string, faces []gtFace) error {
	byZone := map[string][]gtFace{}
	for _, f := range faces {
		byZone[f.zone] = append(byZone[f.zone], f)
	}
	for zone, fs := range byZone {
		sources := gtSources{}
		data, err := store.ReadAll(ctx, internal, gtSourcesKey(zone))
		if err == nil {
			if err := json.Unmarshal(data, &sources); err != nil {
				return fmt.Errorf("%s: %w", gtSourcesKey(zone), err)
			}
		} else if !errors.Is(err, store.ErrNotExist) {
			return err
		}
		number := map[string]int{}
		next := 1
		for name, src := range sources {
			n, _ := contracts.ParseFaceID(name)
			number[src] = n
			next = max(next, n+1)
		}
		for _, f := range fs {
			n, ok := number[f.source]
			if !ok {
				n = next
				next++
				number[f.source] = n
				sources[contracts.FaceID(n)] = f.source
			}
			if err := store.PutBytes(ctx, internal, layout.GroundTruthFace(zone, n), f.face.Crop); err != nil {
				return err
			}
			if err := store.PutBytes(ctx, internal, layout.GroundTruthEmbedding(zone, n), npy.Encode(f.face.Embedding)); err != nil {
				return err
			}
		}
		data, _ = json.MarshalIndent(sources, "", "  ")
		if err := store.PutBytes(ctx, internal, gtSourcesKey(zone), data); err != nil {
			return err
		}
	}
	return nil
}

// IndexOutput is what the index stage published.
type IndexOutput struct {
	Version string `json:"version"`
	Items   int    `json:"items"`
	Zones   int    `json:"zones"`
}

func batchIndex(ctx context.Context, t *engine.Task) error {
	c, b, err := taskSetup(ctx, t)
	if err != nil {
		return err
	}
	pipe, err := openPipeline(c.Face)
	if err != nil {
		return err
	}
	items, err := groundTruthItems(ctx, b.Internal)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return engine.Fatal(errors.New("the ground truth holds no embeddings"))
	}
	x := ann.New(len(items[0].Vector), metricOf(pipe), ann.WithModel(pipe.ModelName()))
	if err := x.Add(items...); err != nil {
		return engine.Fatal(err)
	}
	// Publishing moves the latest pointer: one attempt does it.
	if err := t.Authorize(ctx); err != nil {
		return err
	}
	version, err := ann.Publish(ctx, b.Internal, layout.Index(pipe.ModelName()), x)
	if err != nil {
		return err
	}
	zones := map[string]bool{}
	for _, it := range items {
		zones[it.Label] = true
	}
	t.Log.Info("index published", "model", pipe.ModelName(), "version", version, "items", len(items), "zones", len(zones))
	return putJSON(ctx, t, "index.json", IndexOutput{Version: version, Items: len(items), Zones: len(zones)})
}

// groundTruthItems reads every ground-truth embedding as an index item
// labelled with its zone; the id is a hash of its key, stable across runs.
func groundTruthItems(ctx context.Context, internal store.Bucket) ([]ann.Item, error) {
	list, err := internal.List(ctx, "ground-truth-faces/", "")
	if err != nil {
		return nil, err
	}
	var items []ann.Item
	for _, o := range list.Objects {
		if !strings.HasSuffix(o.Key, ".npy") {
			continue
		}
		zone := strings.Split(strings.TrimPrefix(o.Key, "ground-truth-faces/"), "/")[0]
		data, err := store.ReadAll(ctx, internal, o.Key)
		if err != nil {
			return nil, err
		}
		v, err := npy.DecodeVector(data)
		if err != nil {
			return nil, engine.Fatal(fmt.Errorf("%s: %w", store.Join(internal.URL(), o.Key), err))
		}
		items = append(items, ann.Item{ID: keyID(o.Key), Label: zone, Vector: v})
	}
	return items, nil
}

func keyID(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}

// poolHits is one face of the unidentified pool with what one index shard
// holds nearest to it; the search stage shuffles these by content uuid.
type poolHits struct {
	Face string         `json:"face"`
	Hits ann.Candidates `json:"hits"`
}

// batchSearch searches one shard of the new index (shard = partition) for
// every face of the unidentified pool, and shuffles the hits by content
// uuid so that each reclassify task sees all shards' hits of its videos.
func batchSearch(ctx context.Context, t *engine.Task) error {
	c, b, err := taskSetup(ctx, t)
	if err != nil {
		return err
	}
	pipe, err := openPipeline(c.Face)
	if err != nil {
		return err
	}
	x, version, err := latestIndex(ctx, b.Internal, pipe.ModelName())
	if err != nil {
		return err
	}
	shards, err := x.Split(t.Partitions, ann.ByID)
	if err != nil {
		return engine.Fatal(err)
	}
	shard := shards[t.Partition]
	reducers, err := strconv.Atoi(t.Param("reducers"))
	if err != nil || reducers < 1 {
		return engine.Fatal(fmt.Errorf("param reducers: %q is not a count", t.Param("reducers")))
	}
	w, err := shuffle.NewWriter(shuffle.Options{Partitioner: shuffle.Hash(reducers), Sort: true, Codec: shuffle.Zstd})
	if err != nil {
		return engine.Fatal(err)
	}
	pool := layout.CandidateEmbeddings(pipe.ModelName(), layout.Unidentified)
	list, err := b.Internal.List(ctx, pool, "")
	if err != nil {
		w.Discard()
		return err
	}
	k := c.rule(pipe).K
	for _, o := range list.Objects {
		rel := strings.TrimPrefix(o.Key, pool)
		uuid, file, ok := strings.Cut(rel, "/")
		if !ok || !strings.HasSuffix(file, ".npy") {
			continue
		}
		raw, err := store.ReadAll(ctx, b.Internal, o.Key)
		if errors.Is(err, store.ErrNotExist) {
			continue // identified meanwhile
		}
		if err != nil {
			w.Discard()
			return err
		}
		emb, err := npy.DecodeVector(raw)
		if err != nil {
			t.Log.Warn("unreadable embedding skipped", "key", o.Key, "err", err)
			continue
		}
		value, _ := json.Marshal(poolHits{Face: strings.TrimSuffix(file, ".npy"), Hits: shard.Candidates(emb, k)})
		if err := w.Add([]byte(uuid), value); err != nil {
			w.Discard()
			return err
		}
	}
	t.Count("faces_searched", int64(len(list.Objects)))
	t.Log.Info("pool searched", "shard", t.Partition, "of", t.Partitions, "items", shard.Len(), "faces", len(list.Objects), "index", version)
	_, err = shuffle.WriteTask(ctx, t, "hits", w, shuffle.Auto)
	return err
}

// batchReclassify merges every shard's hits for its share of the pool,
// classifies each face as the unsharded index would, and updates the
// videos it now identifies.
func batchReclassify(ctx context.Context, t *engine.Task) error {
	c, err := taskConfig(t)
	if err != nil {
		return err
	}
	inf, err := newInference(ctx, t, c, contracts.NewBatchRunner, t.Param("batch"))
	if err != nil {
		return err
	}
	records := newDailyRecords(inf.b)
	r, err := shuffle.NewTaskReader(ctx, t, "search", "hits", shuffle.ReadOptions{})
	if err != nil {
		return err
	}
	k := c.rule(inf.pipe).K
	err = r.Groups(ctx, func(key []byte, values [][]byte) error {
		uuid := string(key)
		byFace := map[string][]ann.Candidates{}
		for _, v := range values {
			var ph poolHits
			if err := json.Unmarshal(v, &ph); err != nil {
				return engine.Fatal(fmt.Errorf("shuffled hits of %s: %w", uuid, err))
			}
			byFace[ph.Face] = append(byFace[ph.Face], ph.Hits)
		}
		hits := map[string][]ann.Hit{}
		for face, parts := range byFace {
			hits[face] = ann.Merge(k, parts...)
		}
		inf.out.Videos++
		if err := inf.reclassify(ctx, uuid, hits, records); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !videoProblem(err) {
				return fmt.Errorf("content %s: %w", uuid, err)
			}
			inf.t.Log.Warn("candidate failed", "content_uuid", uuid, "err", err)
			inf.t.Problem("content %s: %v", uuid, err)
			inf.out.Failures = append(inf.out.Failures, VideoFailure{ContentUUID: uuid, Error: err.Error()})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return inf.finish(ctx)
}

// reclassify classifies one video's unidentified faces from their hits in
// the new index, merges the result into its metadata and deletes the
// embeddings of the faces now identified.
func (inf *inference) reclassify(ctx context.Context, uuid string, hits map[string][]ann.Hit, records *dailyRecords) error {
	model := inf.pipe.ModelName()
	metaKey := layout.CandidateMetadata(model, uuid)
	data, err := store.ReadAll(ctx, inf.b.Internal, metaKey)
	if err != nil {
		return err
	}
	meta, err := contracts.ParseCandidateMetadata(store.Join(inf.b.Internal.URL(), metaKey), data)
	if err != nil {
		return &recordError{err}
	}
	pooled := func(face string) string { return layout.CandidateEmbedding(model, layout.Unidentified, uuid, face) }
	faces := slices.Sorted(maps.Keys(hits))
	// The metadata and the pool are shared: only the grant holder changes them.
	if err := inf.t.Authorize(ctx); err != nil {
		return err
	}
	if meta.IsCompletelyClassified {
		// Identified meanwhile: the pool entries are stale.
		for _, f := range faces {
			inf.b.Internal.Delete(ctx, pooled(f))
		}
		inf.t.Count("already_classified", 1)
		return nil
	}
	day, err := records.day(ctx, meta.UploadTS)
	if err != nil {
		return err
	}
	location, ok := day.videos[uuid]
	if !ok {
		return &recordError{fmt.Errorf("content %s is not in the content-metadata partition of its upload day %s", uuid, meta.UploadTS.Format(contracts.DateLayout))}
	}
	var results []contracts.FaceResult
	var identified []string
	now := time.Now().UTC()
	for _, faceID := range faces {
		if _, done := meta.IdentifiedFaceZoneDistanceMap[faceID]; done {
			identified = append(identified, pooled(faceID))
			continue
		}
		seen, ok := day.faces[[2]string{uuid, faceID}]
		if !ok {
			return &recordError{fmt.Errorf("face %s of %s is not in the intermediate data of its daily run", faceID, uuid)}
		}
		res, nearestZone := inf.classifyHits(faceID, hits[faceID])
		results = append(results, res)
		row := seen
		row.ZoneID, row.NearestZoneID, row.Distance, row.IndexVersion = res.ZoneID, nearestZone, res.NearestDistance, inf.version
		row.Runner, row.Run, row.JobID, row.Attempt, row.ProcessedAt = inf.runner, inf.run, inf.t.ID.Job, int32(inf.t.ID.Attempt), now.Truncate(time.Millisecond)
		inf.out.Faces = append(inf.out.Faces, row)
		if res.ZoneID != "" {
			cm := contracts.ContentMetadata{ContentUUID: uuid, VideoLocation: location}
			inf.out.Predicted = append(inf.out.Predicted, inf.predictedRow(cm, faceID, seen.FaceImage, res))
			identified = append(identified, pooled(faceID))
		}
	}
	newer, err := contracts.NewCandidateMetadata(uuid, model, meta.UploadTS, results, now)
	if err != nil {
		return err
	}
	if err := writeMetadata(ctx, inf.b.Internal, newer); err != nil {
		return err
	}
	// Only after the metadata records them: the pool loses these faces.
	for _, k := range identified {
		if err := inf.b.Internal.Delete(ctx, k); err != nil {
			return err
		}
	}
	inf.t.Count("newly_identified", int64(len(identified)))
	return nil
}

// dailyRecords finds, for a candidate of the unidentified pool, what the
// daily run that first saw it recorded: its video location (content
// table) and its faces' boxes and quality (intermediate data). It reads
// each upload day once.
type dailyRecords struct {
	content, internal store.Bucket
	days              map[string]*dayRecords
}

type dayRecords struct {
	videos map[string]string                        // uuid -> video location
	faces  map[[2]string]contracts.IntermediateFace // (uuid, face) -> row
}

func newDailyRecords(b *layout.Buckets) *dailyRecords {
	return &dailyRecords{content: b.Content, internal: b.Internal, days: map[string]*dayRecords{}}
}

func (d *dailyRecords) day(ctx context.Context, uploaded time.Time) (*dayRecords, error) {
	day := uploaded.UTC().Truncate(24 * time.Hour)
	name := day.Format(contracts.DateLayout)
	if r := d.days[name]; r != nil {
		return r, nil
	}
	r := &dayRecords{videos: map[string]string{}, faces: map[[2]string]contracts.IntermediateFace{}}
	rows, _, err := readContentPartition(ctx, d.content, day)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		r.videos[row.ContentUUID] = row.VideoLocation
	}
	key := layout.IntermediateDaily(day) + "part-00000.parquet"
	data, err := store.ReadAll(ctx, d.internal, key)
	if err != nil && !errors.Is(err, store.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		faces, err := contracts.ReadIntermediate(store.Join(d.internal.URL(), key), bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, err
		}
		for _, f := range faces {
			r.faces[[2]string{f.ContentUUID, f.FaceID}] = f
		}
	}
	d.days[name] = r
	return r, nil
}

func batchPublish(ctx context.Context, t *engine.Task) error {
	_, b, err := taskSetup(ctx, t)
	if err != nil {
		return err
	}
	batch, err := batchOf(t)
	if err != nil {
		return err
	}
	return publish(ctx, t, b, "reclassify", layout.IntermediateBatch(batch), layout.PredictedBatch(batch))
}
