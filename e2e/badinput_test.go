package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

// TestBadInputIsReportedAndTheRestGoesOn runs on the system as processes.
// A day is broken three ways: a content-metadata file without the views
// column, a zero-length video and a video that is not a video. The day
// still succeeds; each problem is named in the job's outputs and on the
// status page; every other candidate is processed; nothing written
// before is lost. Two uploads are broken too, a malformed zone list and a
// corrupt ground-truth photo: each batch fails with its problems named on
// the status page, and writes nothing.
func TestBadInputIsReportedAndTheRestGoesOn(t *testing.T) {
	srv := testenv.StartS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	photos, err := sample.LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	w := openS3World(t, srv, "bad-", srv.Endpoint, true)
	b, cfg := w.b, w.cfg
	ans, err := sample.Generate(ctx, b, photos, sample.Options{Seed: 41, Days: 1, VideosPerDay: 8})
	if err != nil {
		t.Fatal(err)
	}
	s := StartSystem(t, ctx, SystemOptions{Store: w.workURL, Executors: []ExecutorOptions{{ID: "x1"}, {ID: "x2"}},
		Env: []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey}})
	run := func(spec engine.JobSpec) *engine.Job {
		t.Helper()
		id, err := s.Client.Submit(ctx, spec, "")
		if err != nil {
			t.Fatal(err)
		}
		j, err := s.Client.Wait(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	batch, _ := contracts.ParseBatchID(ans.Batches[0].Batch)
	if j := run(jobs.BatchSpec(batch, cfg)); j.State != engine.JobSucceeded {
		t.Fatalf("batch: %s %s", j.State, j.Error)
	}
	day, _ := contracts.ParseDate(ans.Days[0])

	// A first, clean run: what it wrote must survive the broken one.
	if j := run(jobs.DailySpec(day, cfg)); j.State != engine.JobSucceeded {
		t.Fatalf("clean day: %s %s", j.State, j.Error)
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
	store.PutBytes(ctx, b.Content, empty.VideoLocation, nil)
	store.PutBytes(ctx, b.Content, junk.VideoLocation, []byte("<html>not a video</html>"))

	j := run(jobs.DailySpec(day, cfg))
	if j.State != engine.JobSucceeded {
		t.Fatalf("a day with bad input failed as a whole: %s", j.Error)
	}
	var report jobs.CandidateReport
	readOutput(t, w.work, j.Stage("candidates").Tasks[0].Outputs, "report.json", &report)
	if len(report.Problems) != 1 || !strings.Contains(report.Problems[0], "part-00001.parquet") || !strings.Contains(report.Problems[0], "views") {
		t.Errorf("candidate report problems = %q, want one naming part-00001.parquet and the views column", report.Problems)
	}
	var sum jobs.RunSummary
	readOutput(t, w.work, j.Stage("publish").Tasks[0].Outputs, "summary.json", &sum)
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
	page := s.StatusPage(t, "/jobs/"+j.ID)
	for _, want := range []string{"Input problems", "part-00001.parquet", "views", empty.ContentUUID, "empty file", junk.ContentUUID, "not a readable video"} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page of the day does not show %q", want)
		}
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

	// Broken uploads: each batch fails, names its problems on the status
	// page, and leaves the zone registry and the index as they were.
	registry, _ := store.ReadAll(ctx, b.Internal, layout.ZoneRegistry)
	bad, _ := contracts.ParseBatchID(ans.Days[0][:10] + "@9")
	store.PutBytes(ctx, b.External, layout.ZoneList(bad), []byte("Zone ID,Zone Name,Keywords\nnot-a-uuid,Someone,\n"))
	second, _ := contracts.ParseBatchID(ans.Batches[1].Batch)
	list, err := b.External.List(ctx, layout.GroundTruthImages(second), "")
	if err != nil || len(list.Objects) == 0 {
		t.Fatalf("no ground-truth photos of batch %s: %v", second, err)
	}
	corrupt := list.Objects[0].Key
	store.PutBytes(ctx, b.External, corrupt, []byte("\xff\xd8\xff\xe0 truncated jpeg"))
	for _, c := range []struct {
		batch contracts.BatchID
		want  []string
	}{
		{bad, []string{layout.ZoneList(bad) + ":2", "Zone ID"}},
		{second, []string{corrupt}},
	} {
		j := run(jobs.BatchSpec(c.batch, cfg))
		if j.State != engine.JobFailed {
			t.Fatalf("batch %s with bad input: %s, want failed", c.batch, j.State)
		}
		page := s.StatusPage(t, "/jobs/"+j.ID)
		for _, want := range c.want {
			if !strings.Contains(j.Error, want) || !strings.Contains(page, html.EscapeString(want)) {
				t.Errorf("batch %s: the job error and its status page do not name %q:\n%s", c.batch, want, j.Error)
			}
		}
	}
	if now, _ := store.ReadAll(ctx, b.Internal, layout.ZoneRegistry); !bytes.Equal(now, registry) {
		t.Error("a rejected upload changed the zone registry")
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
