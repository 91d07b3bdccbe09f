package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

// TestBadDayInputIsReportedAndTheRestGoesOn breaks a day three ways: a
// content-metadata file without the views column, a zero-length video
// and a video that is not a video. The day still succeeds; each problem
// is reported by name in the job's outputs; every other candidate is
// processed; nothing written before is lost.
func TestBadDayInputIsReportedAndTheRestGoesOn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := jobs.LocalConfig(dir)
	cfg.Partitions = 2
	b, err := layout.Open(ctx, cfg.Buckets)
	if err != nil {
		t.Fatal(err)
	}
	photos, err := sample.LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := sample.Generate(ctx, b, photos, sample.Options{Seed: 41, Days: 1, VideosPerDay: 8})
	if err != nil {
		t.Fatal(err)
	}
	work, _ := store.OpenDir(filepath.Join(dir, "engine"))
	l, err := jobs.StartLocal(work, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batch, _ := contracts.ParseBatchID(ans.Batches[0].Batch)
	if _, err := l.Run(ctx, jobs.BatchSpec(batch, cfg), ""); err != nil {
		t.Fatal(err)
	}
	day, _ := contracts.ParseDate(ans.Days[0])

	// A first, clean run: what it wrote must survive the broken one.
	if _, err := l.Run(ctx, jobs.DailySpec(day, cfg), ""); err != nil {
		t.Fatal(err)
	}
	before, err := ReadLedger(ctx, b, model)
	if err != nil {
		t.Fatal(err)
	}

	// A second file in the partition, missing the views column.
	type noViews struct {
		ContentUUID   string `parquet:"content_uuid"`
		VideoLocation string `parquet:"video_location"`
	}
	var pq bytes.Buffer
	if err := parquet.Write(&pq, []noViews{{"0d6a1c3e-5b7f-4e2a-9c8d-1f2e3d4c5b6a", "videos/x.mp4"}}); err != nil {
		t.Fatal(err)
	}
	badFile := layout.ContentPartition(day) + "part-00001.parquet"
	store.PutBytes(ctx, b.Content, badFile, pq.Bytes())
	cands, _ := jobs.DefaultFilter().Apply(readRows(t, b, day))
	if len(cands) < 3 {
		t.Fatalf("seed gives %d candidates; the test needs 3", len(cands))
	}
	empty, junk := cands[0], cands[1]
	root := filepath.Join(dir, "prod-ugc-contents")
	os.WriteFile(filepath.Join(root, empty.VideoLocation), nil, 0o644)
	os.WriteFile(filepath.Join(root, junk.VideoLocation), []byte("<html>not a video</html>"), 0o644)

	j, err := l.Run(ctx, jobs.DailySpec(day, cfg), "")
	if err != nil {
		t.Fatalf("a day with bad input failed as a whole: %v", err)
	}
	var report jobs.CandidateReport
	readOutput(t, work, j.Stage("candidates").Tasks[0].Outputs, "report.json", &report)
	if len(report.Problems) != 1 || !strings.Contains(report.Problems[0], "part-00001.parquet") || !strings.Contains(report.Problems[0], "views") {
		t.Errorf("candidate report problems = %q, want one naming part-00001.parquet and the views column", report.Problems)
	}
	var sum jobs.RunSummary
	readOutput(t, work, j.Stage("publish").Tasks[0].Outputs, "summary.json", &sum)
	failed := map[string]string{}
	for _, f := range sum.Failures {
		failed[f.ContentUUID] = f.Error
	}
	if len(failed) != 2 || !strings.Contains(failed[empty.ContentUUID], "empty") || !strings.Contains(failed[junk.ContentUUID], "not a readable video") {
		t.Errorf("failures = %v, want the empty video (%s) and the junk one (%s), each with its reason", failed, empty.ContentUUID, junk.ContentUUID)
	}
	if sum.Videos != len(cands) {
		t.Errorf("%d videos attempted, want every candidate (%d)", sum.Videos, len(cands))
	}
	// What the clean run found is still there: the metadata of the broken
	// videos, and every identification in the day's predicted data.
	after, err := ReadLedger(ctx, b, model)
	if err != nil {
		t.Fatal(err)
	}
	for id, m := range before.Metadata {
		if got, ok := after.Metadata[id]; !ok || len(got.IdentifiedFaceZoneDistanceMap) < len(m.IdentifiedFaceZoneDistanceMap) {
			t.Errorf("candidate %s lost identifications: %v -> %v", id, m.IdentifiedFaceZoneDistanceMap, got.IdentifiedFaceZoneDistanceMap)
		}
	}
	key := layout.PredictedDaily(day)
	if len(after.Predicted[key]) < len(before.Predicted[key]) {
		t.Errorf("%s shrank from %d to %d rows", key, len(before.Predicted[key]), len(after.Predicted[key]))
	}
}

func readRows(t *testing.T, b *layout.Buckets, day interface{ Format(string) string }) []contracts.ContentMetadata {
	t.Helper()
	d, _ := contracts.ParseDate(day.Format(contracts.DateLayout))
	key := layout.ContentPartition(d) + "part-00000.parquet"
	data, err := store.ReadAll(context.Background(), b.Content, key)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := contracts.ReadContentMetadata(key, bytes.NewReader(data), int64(len(data)), d)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func readOutput(t *testing.T, work store.Bucket, outs []engine.Output, name string, v any) {
	t.Helper()
	for _, o := range outs {
		if o.Name == name {
			data, err := store.ReadAll(context.Background(), work, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, v); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no output %s among %v", name, outs)
}
