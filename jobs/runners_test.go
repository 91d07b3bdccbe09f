package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/notify"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

// world is a sample in a temporary directory with an embedded engine.
type world struct {
	t    *testing.T
	dir  string
	cfg  Config
	b    *layout.Buckets
	ans  *sample.Answer
	eng  *Local
	work store.Bucket
}

func newWorld(t *testing.T, opt sample.Options) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w := &world{t: t, dir: dir, cfg: LocalConfig(dir)}
	w.cfg.Partitions = 2
	var err error
	if w.b, err = layout.Open(ctx, w.cfg.Buckets); err != nil {
		t.Fatal(err)
	}
	photos, err := sample.LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	if w.ans, err = sample.Generate(ctx, w.b, photos, opt); err != nil {
		t.Fatal(err)
	}
	if w.work, err = store.OpenDir(filepath.Join(dir, "engine")); err != nil {
		t.Fatal(err)
	}
	if w.eng, err = StartLocal(w.work, 2, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.eng.Close)
	return w
}

func (w *world) batch(i int) layout.Batch {
	b, err := contracts.ParseBatchID(w.ans.Batches[i].Batch)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *world) day(i int) layout.Batch {
	d, _ := contracts.ParseDate(w.ans.Days[i])
	return layout.Batch{Date: d}
}

func (w *world) run(spec engine.JobSpec) *engine.Job {
	w.t.Helper()
	j, err := w.eng.Run(context.Background(), spec, "")
	if err != nil {
		w.t.Fatalf("%s: %v", spec.Name, err)
	}
	return j
}

// summary reads the RunSummary a job's publish stage committed.
func (w *world) summary(j *engine.Job) RunSummary {
	w.t.Helper()
	var s RunSummary
	for _, o := range j.Stage("publish").Tasks[0].Outputs {
		if o.Name == "summary.json" {
			data, err := store.ReadAll(context.Background(), w.work, o.Key)
			if err != nil {
				w.t.Fatal(err)
			}
			json.Unmarshal(data, &s)
		}
	}
	return s
}

func (w *world) keys(b store.Bucket, prefix string) []string {
	w.t.Helper()
	l, err := b.List(context.Background(), prefix, "")
	if err != nil {
		w.t.Fatal(err)
	}
	var ks []string
	for _, o := range l.Objects {
		ks = append(ks, o.Key)
	}
	return ks
}

func (w *world) predicted(key string) []contracts.PredictedRow {
	w.t.Helper()
	data, err := store.ReadAll(context.Background(), w.b.External, key)
	if err != nil {
		w.t.Fatal(err)
	}
	rows, err := contracts.ParsePredicted(key, bytes.NewReader(data))
	if err != nil {
		w.t.Fatal(err)
	}
	return rows
}

// TestSampleAccuracy runs both runners over the demo's sample and scores
// them against the known answer (issue: precision >= 0.95, recall >= 0.9).
func TestSampleAccuracy(t *testing.T) {
	w := newWorld(t, sample.Options{Seed: 1})
	run, err := RunSample(context.Background(), testenv.Path(t, "dlib"), sample.Options{Seed: 1}, w.cfg, w.eng)
	if err != nil {
		t.Fatal(err)
	}
	s := run.Score
	t.Logf("per-video zone precision %.3f recall %.3f (TP %d FP %d FN %d) over %d videos, %d faces",
		s.Precision, s.Recall, s.TruePositives, s.FalsePositives, s.FalseNegatives, run.Videos, run.Faces)
	if s.Precision < 0.95 || s.Recall < 0.9 {
		t.Errorf("precision %.3f, recall %.3f; want >= 0.95 and >= 0.9", s.Precision, s.Recall)
	}
	if s.TruePositives < 10 {
		t.Errorf("only %d true positives: the sample is too small to mean anything", s.TruePositives)
	}
	// Every output of the seed's layout is there.
	ctx := context.Background()
	model := "dlib-resnet128"
	for _, prefix := range []string{"ground-truth-faces/", "candidates/faces/", layout.CandidateEmbeddings(model, layout.Complete),
		"candidates/metadata/" + model + "/", layout.IntermediateDaily(w.day(0).Date), layout.IntermediateBatch(w.batch(1)), layout.Index(model) + "/"} {
		if len(w.keys(w.b.Internal, prefix)) == 0 {
			t.Errorf("nothing under internal %s", prefix)
		}
	}
	for _, d := range w.ans.Days {
		day, _ := contracts.ParseDate(d)
		w.predicted(layout.PredictedDaily(day))
	}
	// The second batch identified faces the days left unidentified, and
	// removed them from the unidentified pool.
	batchRows := w.predicted(layout.PredictedBatch(w.batch(1)))
	if len(batchRows) == 0 {
		t.Fatal("the second batch identified nothing in the unidentified pool")
	}
	for _, r := range batchRows {
		if _, err := w.b.Internal.Stat(ctx, layout.CandidateEmbedding(model, layout.Unidentified, r.ContentUUID, r.FaceID)); !errors.Is(err, store.ErrNotExist) {
			t.Errorf("%s %s was identified by the batch but is still in the unidentified pool", r.ContentUUID, r.FaceID)
		}
	}
	data, _ := store.ReadAll(ctx, w.b.Internal, "intermediate-data/scann/"+model+"/latest")
	if len(data) == 0 {
		t.Error("the index has no latest pointer")
	}
	// Re-running the batch finds its faces gone from the pool, and keeps
	// its predicted rows anyway.
	w.run(BatchSpec(w.batch(1), w.cfg))
	again := w.predicted(layout.PredictedBatch(w.batch(1)))
	if len(again) != len(batchRows) {
		t.Errorf("re-running the batch left %d predicted rows, want the %d of the first run", len(again), len(batchRows))
	}
}

// TestDailyRerunIsIdempotent re-runs a day: the same objects, the same
// rows, no duplicates.
func TestDailyRerunIsIdempotent(t *testing.T) {
	w := newWorld(t, sample.Options{Seed: 5, Days: 1, VideosPerDay: 6})
	w.run(BatchSpec(w.batch(0), w.cfg))
	day := w.day(0).Date
	w.run(DailySpec(day, w.cfg))
	before := w.keys(w.b.Internal, "candidates/")
	rowsBefore := w.predicted(layout.PredictedDaily(day))
	w.run(DailySpec(day, w.cfg))
	after := w.keys(w.b.Internal, "candidates/")
	rowsAfter := w.predicted(layout.PredictedDaily(day))
	if !slices.Equal(before, after) {
		t.Errorf("the re-run changed the set of candidate objects:\nbefore %v\nafter  %v", before, after)
	}
	strip := func(rows []contracts.PredictedRow) []contracts.PredictedRow {
		out := slices.Clone(rows)
		for i := range out {
			out[i].JobID = ""
		}
		return out
	}
	if !slices.Equal(strip(rowsBefore), strip(rowsAfter)) {
		t.Errorf("the re-run changed the predicted rows:\nbefore %+v\nafter  %+v", rowsBefore, rowsAfter)
	}
	if len(rowsAfter) == 0 {
		t.Error("no identifications at all: the test proves nothing")
	}
	parts := w.keys(w.b.Internal, layout.IntermediateDaily(day))
	if len(parts) != 1 {
		t.Errorf("intermediate files after a re-run: %v, want exactly one", parts)
	}
}

// TestConcurrentBatchesKeepTheGroundTruthWhole runs two uploads at once:
// the lock serialises them, and the final index holds every zone.
func TestConcurrentBatchesKeepTheGroundTruthWhole(t *testing.T) {
	w := newWorld(t, sample.Options{Seed: 9, Days: 1, VideosPerDay: 2})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.eng.Run(context.Background(), BatchSpec(w.batch(i), w.cfg), "")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	ctx := context.Background()
	x, version, err := ann.LoadLatest(ctx, w.b.Internal, layout.Index("dlib-resnet128"))
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]bool{}
	for _, it := range x.Items() {
		zones[it.Label] = true
	}
	if len(zones) != len(w.ans.ZonesByID()) || x.Len() != 4*len(zones) {
		t.Errorf("latest index %s has %d items of %d zones; want 4 faces for each of the %d zones", version, x.Len(), len(zones), len(w.ans.ZonesByID()))
	}
	reg, _ := loadZones(ctx, w.b.Internal)
	if len(reg) != len(w.ans.ZonesByID()) {
		t.Errorf("zone registry has %d zones, want %d", len(reg), len(w.ans.ZonesByID()))
	}
	if _, err := w.b.Internal.Stat(ctx, layout.Lock(groundTruthLock)); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("the lock is still held after both runs: %v", err)
	}
}

// TestInvalidUploadWritesNothing breaks a zone list: the batch fails with
// every problem named, a report lands next to the upload, and nothing of
// the batch is written.
func TestInvalidUploadWritesNothing(t *testing.T) {
	w := newWorld(t, sample.Options{Seed: 11, Days: 1, VideosPerDay: 2})
	chat := testenv.StartWebhookSink(t)
	mail := testenv.StartSMTPSink(t)
	w.eng.Notifier = notify.New(notify.Config{GChatWebhook: chat.URL, SMTPAddr: mail.Addr, To: []string{"cz-team@example.com"}})
	w.eng.StatusURL = "http://127.0.0.1:8080"
	ctx := context.Background()
	batch := w.batch(0)
	bad := "Zone ID,Zone Name,Keywords\nnot-a-uuid,Someone,\n" + w.ans.Batches[0].Zones[0].ID + ",,x\n"
	store.PutBytes(ctx, w.b.External, layout.ZoneList(batch), []byte(bad))
	_, err := w.eng.Run(ctx, BatchSpec(batch, w.cfg), "")
	if err == nil {
		t.Fatal("an invalid zone list was accepted")
	}
	for _, want := range []string{"zone-list/" + batch.String() + ".csv:2", "Zone ID", ":3", "Zone Name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	data, rerr := store.ReadAll(ctx, w.b.External, layout.ValidationReport(batch))
	if rerr != nil || !bytes.Contains(data, []byte(`"valid": false`)) {
		t.Errorf("validation report = %s (%v), want one saying the batch is invalid", data, rerr)
	}
	if ks := w.keys(w.b.Internal, "ground-truth-faces/"); len(ks) != 0 {
		t.Errorf("an invalid batch wrote ground truth: %v", ks)
	}
	if ks := w.keys(w.b.Internal, "intermediate-data/scann/"); len(ks) != 0 {
		t.Errorf("an invalid batch published an index: %v", ks)
	}
	// The team heard of the start and of the failure, with a link.
	msgs := chat.Messages()
	if len(msgs) != 2 || !strings.Contains(msgs[0]["text"].(string), "started") || !strings.Contains(msgs[1]["text"].(string), "failed") {
		t.Fatalf("chat messages = %v, want started then failed", msgs)
	}
	if !strings.Contains(msgs[1]["text"].(string), "http://127.0.0.1:8080/jobs/") || !strings.Contains(msgs[1]["text"].(string), "Zone ID") {
		t.Errorf("failure message lacks the status link or the reason: %q", msgs[1]["text"])
	}
	if m := mail.Mails(); len(m) != 2 || !strings.Contains(m[1].Data, "Subject: [cz] new-batch-runner-"+batch.String()+" failed") {
		t.Errorf("mails = %+v, want a start and a failure mail", m)
	}
}

// TestBadVideoDoesNotStopTheDay corrupts one video: the day still
// succeeds, the failure is reported by name, the other videos are done.
func TestBadVideoDoesNotStopTheDay(t *testing.T) {
	w := newWorld(t, sample.Options{Seed: 13, Days: 1, VideosPerDay: 5})
	w.run(BatchSpec(w.batch(0), w.cfg))
	day := w.day(0).Date
	cands, _ := w.cfg.Filter.Apply(dayRows(t, w, day))
	if len(cands) < 2 {
		t.Skipf("seed gives %d candidates; need 2", len(cands))
	}
	victim := cands[0]
	os.WriteFile(filepath.Join(w.dir, "prod-ugc-contents", filepath.FromSlash(victim.VideoLocation)), []byte("not a video at all"), 0o644)
	j := w.run(DailySpec(day, w.cfg))
	s := w.summary(j)
	if len(s.Failures) != 1 || s.Failures[0].ContentUUID != victim.ContentUUID || s.Failures[0].Error == "" {
		t.Fatalf("failures = %+v, want exactly the corrupted %s with its error", s.Failures, victim.ContentUUID)
	}
	if s.Videos != len(cands) {
		t.Errorf("%d videos attempted, want all %d candidates", s.Videos, len(cands))
	}
	if _, err := w.b.Internal.Stat(context.Background(), layout.CandidateMetadata("dlib-resnet128", cands[1].ContentUUID)); err != nil {
		t.Errorf("the next video was not processed: %v", err)
	}
}

func dayRows(t *testing.T, w *world, day interface{ Format(string) string }) []contracts.ContentMetadata {
	d, _ := contracts.ParseDate(day.Format(contracts.DateLayout))
	rows, problems, err := readContentPartition(context.Background(), w.b.Content, d)
	if err != nil || len(problems) > 0 {
		t.Fatalf("content partition: %v %v", err, problems)
	}
	return rows
}
