package jobs

import (
	"bytes"
	"context"
	"math"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

const (
	zoneA = "3f1c7a52-8f0b-4c1e-9d51-0c3b2f6a9e10"
	zoneB = "7a4c7215-a3b5-4a0a-98be-9c3978b04883"
)

func validatedFile(t *testing.T, b store.Bucket, runner contracts.Runner, run string, verdicts map[string][]contracts.Verdict) {
	t.Helper()
	var rows []contracts.ValidatedRow
	n := 0
	for zone, vs := range verdicts {
		for _, v := range vs {
			n++
			id := "0d6a1c3e-5b7f-4e2a-9c8d-1f2e3d4c5b" + string(rune('a'+n%6)) + strings.Repeat("0", 1)
			rows = append(rows, contracts.ValidatedRow{PredictedRow: contracts.PredictedRow{
				Runner: runner, Run: run, JobID: "job-1", ContentUUID: id[:35] + string(rune('0'+n%10)), VideoLocation: "videos/x.mp4",
				FaceID: contracts.FaceID(n), FaceImage: "candidates/faces/x/face.jpg", ZoneID: zone, ZoneName: "Zone " + zone[:4],
				Distance: 0.4, EmbeddingModelName: "dlib-resnet128",
			}, Verdict: v})
		}
	}
	var buf bytes.Buffer
	if err := contracts.WriteValidated(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if err := store.PutBytes(context.Background(), b, layout.ValidatedPrefix(string(runner))+run+".csv", buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// runQuality runs the quality job on an embedded engine over a local
// layout and returns the stored report.
func runQuality(t *testing.T, dir string, partitions int) *QualityReport {
	t.Helper()
	ctx := context.Background()
	c := LocalConfig(dir)
	c.Partitions = partitions
	work, _ := store.OpenDir(filepath.Join(dir, "engine"))
	l, err := StartLocal(work, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Run(ctx, QualitySpec(c, time.Now()), ""); err != nil {
		t.Fatal(err)
	}
	b, _ := layout.Open(ctx, c.Buckets)
	rep, err := LoadQuality(ctx, b.Internal)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// localExternal opens the external bucket of the local layout under dir.
func localExternal(t *testing.T, dir string) store.Bucket {
	t.Helper()
	b, err := layout.Open(context.Background(), LocalConfig(dir).Buckets)
	if err != nil {
		t.Fatal(err)
	}
	return b.External
}

// TestQualityJob computes the key metrics through the quality job (its
// verdicts shuffled by zone and run to two reducers), with files spread
// over three tasks, and a bad file reported but not fatal.
func TestQualityJob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ext := localExternal(t, dir)
	C, I, U := contracts.VerdictCorrect, contracts.VerdictIncorrect, contracts.VerdictUnsure
	validatedFile(t, ext, contracts.DailyRunner, "2026-11-02", map[string][]contracts.Verdict{zoneA: {C, C, I}, zoneB: {C}})
	validatedFile(t, ext, contracts.DailyRunner, "2026-11-01", map[string][]contracts.Verdict{zoneA: {C, U}})
	validatedFile(t, ext, contracts.NewBatchRunner, "2026-11-04@1", map[string][]contracts.Verdict{zoneB: {I, C}})
	store.PutBytes(ctx, ext, layout.ValidatedPrefix(layout.DailyRunner)+"2026-11-03.csv", []byte("content_uuid,verdict\nx,maybe\n"))

	rep := runQuality(t, dir, 3)
	if o := rep.Overall; o.Correct != 5 || o.Incorrect != 2 || o.Unsure != 1 || math.Abs(o.Precision-5.0/7) > 1e-9 {
		t.Errorf("overall = %+v, want 5 correct, 2 incorrect, 1 unsure, precision 5/7", o)
	}
	if len(rep.Zones) != 2 {
		t.Fatalf("zones = %+v, want 2", rep.Zones)
	}
	for _, z := range rep.Zones {
		want := map[string]float64{zoneA: 3.0 / 4, zoneB: 2.0 / 3}[z.ZoneID]
		if math.Abs(z.Precision-want) > 1e-9 {
			t.Errorf("zone %s precision = %v, want %v", z.ZoneID, z.Precision, want)
		}
	}
	var order []string
	for _, r := range rep.Runs {
		order = append(order, r.Run)
	}
	if strings.Join(order, " ") != "2026-11-01 2026-11-02 2026-11-04@1" {
		t.Errorf("runs in order %v, want by day", order)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "2026-11-03.csv") {
		t.Errorf("problems = %v, want one naming 2026-11-03.csv", rep.Problems)
	}
}

func TestQualityPage(t *testing.T) {
	dir := t.TempDir()
	ext := localExternal(t, dir)
	in, _ := store.OpenDir(t.TempDir())
	req := httptest.NewRequest("GET", "/quality", nil)
	if body, err := QualityPage(in).Body(req); err != nil || !strings.Contains(string(body), "No metrics yet") {
		t.Errorf("page before any quality job = %q (%v), want it to say there are no metrics yet", body, err)
	}
	C, I := contracts.VerdictCorrect, contracts.VerdictIncorrect
	validatedFile(t, ext, contracts.DailyRunner, "2026-11-01", map[string][]contracts.Verdict{zoneA: {C, I}})
	validatedFile(t, ext, contracts.DailyRunner, "2026-11-02", map[string][]contracts.Verdict{zoneA: {C}})
	if err := StoreQuality(context.Background(), in, runQuality(t, dir, 2)); err != nil {
		t.Fatal(err)
	}
	body, err := QualityPage(in).Body(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<table id="runs">`, "2026-11-01", "50.0%", "100.0%", `<svg class="trend"`, `class="point"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("quality page lacks %q", want)
		}
	}
	if n := strings.Count(string(body), `class="point"`); n != 2 {
		t.Errorf("plot has %d points, want one per run (2)", n)
	}
}
