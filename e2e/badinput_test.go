package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"html"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, w, ans := s3Sample(t, ctx, "bad-", sample.Options{Seed: 41, Days: 1, VideosPerDay: 8})
	b, cfg := w.b, w.cfg
	s := startOn(t, ctx, srv, w, []ExecutorOptions{{ID: "x1"}, {ID: "x2"}})
	var finished []*engine.Job
	run := func(spec engine.JobSpec) *engine.Job {
		j := s.Run(t, ctx, spec, "")
		finished = append(finished, j)
		return j
	}
	defer func() { s.CheckLedger(t, ctx, w.work, finished) }()
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
	if list := s.StatusPage(t, "/"); !strings.Contains(list, `<a href="/jobs/`+j.ID+`#problems">3</a>`) {
		t.Errorf("the job list does not count the day's 3 input problems")
	}
	page := s.StatusPage(t, "/jobs/"+j.ID)
	cli := s.CLI(t, "status", j.ID)
	for _, want := range []string{"part-00001.parquet", "views", empty.ContentUUID, "empty file", junk.ContentUUID, "not a readable video"} {
		if !strings.Contains(page, "Input problems") || !strings.Contains(page, want) {
			t.Errorf("the status page of the day does not show %q under Input problems", want)
		}
		if !strings.Contains(cli, "input problems") || !strings.Contains(cli, want) {
			t.Errorf("`cz status %s` does not show %q under input problems:\n%s", j.ID, want, cli)
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

	// Broken uploads: every kind of malformed zone list, and ground-truth
	// photos missing, corrupt and huge. Each batch fails, names its
	// problems in the job's error and on the status page, and leaves the
	// zone registry as it was.
	registry, _ := store.ReadAll(ctx, b.Internal, layout.ZoneRegistry)
	second, _ := contracts.ParseBatchID(ans.Batches[1].Batch)
	zoneList, err := store.ReadAll(ctx, b.External, layout.ZoneList(second))
	if err != nil {
		t.Fatal(err)
	}
	photoList, err := b.External.List(ctx, layout.GroundTruthImages(second), "")
	if err != nil || len(photoList.Objects) < 2 {
		t.Fatalf("batch %s has too few ground-truth photos: %v", second, err)
	}
	zones, err := contracts.ParseZoneList("zone list", bytes.NewReader(zoneList))
	if err != nil {
		t.Fatal(err)
	}
	z, zb := zones[0].ID, zones[len(zones)-1].ID
	for i, c := range []struct {
		name     string
		zoneList string                               // "" keeps the second batch's
		photos   func(rel string, data []byte) []byte // nil drops the photo
		want     []string
	}{
		{name: "empty zone list", zoneList: "\ufeff\n\r\n", want: []string{": file is empty"}},
		{name: "header only", zoneList: "Zone ID,Zone Name\n", want: []string{"has a header but no zones"}},
		{name: "no header", zoneList: z + ",Ada\n", want: []string{":1: the first line holds data"}},
		{name: "missing column", zoneList: "Zone ID,Keywords\n" + z + ",x\n", want: []string{":1: Zone Name: required column Zone Name is missing"}},
		{name: "unknown column", zoneList: "Zone ID,Zone Name,Country\n" + z + ",Ada,x\n", want: []string{`:1: Country: unknown column "Country"`}},
		{name: "row problems", zoneList: "Zone ID,Zone Name,Keywords\n" + z + ",Ada,\nnot-a-uuid,Bob,\n" + z + ",Ada again,\n" + zb + ",  ,\n" +
			zb + ",Grace\n" + strings.ToUpper(zb) + ",Grace,\n", want: []string{
			`:3: Zone ID: "not-a-uuid" is not a UUID`, ":4: Zone ID: duplicate zone ID", ":5: Zone Name: is empty", ":6: has 2 fields; expected 3", ":7: Zone ID:"}},
		{name: "bad quoting", zoneList: "Zone ID,Zone Name\n" + z + ",Ada \"the\" Countess\n", want: []string{":2: CSV syntax error"}},
		{name: "invalid UTF-8", zoneList: "Zone ID,Zone Name\n" + z + ",\xff\xfe\n", want: []string{":2: Zone Name:", "is not valid UTF-8"}},
		{name: "missing photos", photos: func(rel string, data []byte) []byte {
			if strings.HasPrefix(rel, z+"/") {
				return nil
			}
			return data
		}, want: []string{z + "/", "0 usable images"}},
		{name: "corrupt photo", photos: func(rel string, data []byte) []byte {
			if strings.HasPrefix(rel, z+"/") {
				return []byte("\xff\xd8\xff\xe0 truncated jpeg")
			}
			return data
		}, want: []string{z + "/", "not an image"}},
		{name: "huge photo", photos: func(rel string, data []byte) []byte {
			if strings.HasPrefix(rel, z+"/") {
				return hugePNG(t, 20000, 20000)
			}
			return data
		}, want: []string{"is 20000x20000 pixels; expected at most"}},
	} {
		batch, _ := contracts.ParseBatchID(fmt.Sprintf("%s@%d", second.Date.Format(contracts.DateLayout), 10+i))
		list := []byte(c.zoneList)
		if c.zoneList == "" {
			list = zoneList
		}
		store.PutBytes(ctx, b.External, layout.ZoneList(batch), list)
		for _, o := range photoList.Objects {
			rel := strings.TrimPrefix(o.Key, layout.GroundTruthImages(second))
			data, err := store.ReadAll(ctx, b.External, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			if c.photos != nil {
				data = c.photos(rel, data)
			}
			if data != nil {
				store.PutBytes(ctx, b.External, layout.GroundTruthImages(batch)+rel, data)
			}
		}
		j := run(jobs.BatchSpec(batch, cfg))
		if j.State != engine.JobFailed {
			t.Errorf("%s: batch %s: %s, want failed", c.name, batch, j.State)
			continue
		}
		page := s.StatusPage(t, "/jobs/"+j.ID)
		for _, want := range c.want {
			if !strings.Contains(j.Error, want) || !strings.Contains(page, html.EscapeString(want)) {
				t.Errorf("%s: the job error and its status page do not name %q:\n%s", c.name, want, j.Error)
			}
		}
	}
	if now, _ := store.ReadAll(ctx, b.Internal, layout.ZoneRegistry); !bytes.Equal(now, registry) {
		t.Error("a rejected upload changed the zone registry")
	}
}

// hugePNG is the start of a PNG that claims w×h pixels: its header is
// valid, its pixels are not there (a decompression bomb is refused on the
// header alone).
func hugePNG(t *testing.T, w, h uint32) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	binary.BigEndian.PutUint32(data[16:], w) // IHDR data follows the 8-byte signature and the chunk's length and type
	binary.BigEndian.PutUint32(data[20:], h)
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	return data
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
