package sample

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

func generate(t *testing.T, dir string, seed int64) (*layout.Buckets, *Answer) {
	t.Helper()
	photos, err := LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := layout.Open(context.Background(), layout.Local(dir))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := Generate(context.Background(), b, photos, Options{Seed: seed, Days: 2, VideosPerDay: 4})
	if err != nil {
		t.Fatal(err)
	}
	return b, ans
}

func TestSampleMatchesTheLayoutAndContracts(t *testing.T) {
	ctx := context.Background()
	b, ans := generate(t, t.TempDir(), 7)
	if len(ans.Batches) != 2 || len(ans.Days) != 2 || len(ans.Videos) != 8 {
		t.Fatalf("answer has %d batches, %d days, %d videos; want 2, 2, 8", len(ans.Batches), len(ans.Days), len(ans.Videos))
	}
	for _, ab := range ans.Batches {
		batch, err := contracts.ParseBatchID(ab.Batch)
		if err != nil {
			t.Fatal(err)
		}
		data, err := store.ReadAll(ctx, b.External, layout.ZoneList(batch))
		if err != nil {
			t.Fatal(err)
		}
		zones, err := contracts.ParseZoneList(layout.ZoneList(batch), bytes.NewReader(data))
		if err != nil || len(zones) != len(ab.Zones) {
			t.Fatalf("zone list %s: %v (%d zones, want %d)", batch, err, len(zones), len(ab.Zones))
		}
		list, err := b.External.List(ctx, layout.GroundTruthImages(batch), "")
		if err != nil {
			t.Fatal(err)
		}
		var files []contracts.GroundTruthFile
		for _, o := range list.Objects {
			key := o.Key
			files = append(files, contracts.GroundTruthFile{Key: key, Rel: strings.TrimPrefix(key, layout.GroundTruthImages(batch)), Size: o.Size,
				Open: func() (io.ReadCloser, error) { return b.External.Get(ctx, key) }})
		}
		if ps := contracts.ValidateGroundTruth(zones, files); len(ps) > 0 {
			t.Fatalf("ground truth of %s is invalid: %v", batch, ps)
		}
	}
	withZones, faceless := 0, 0
	for _, day := range ans.Days {
		d, _ := contracts.ParseDate(day)
		key := layout.ContentPartition(d) + "part-00000.parquet"
		data, err := store.ReadAll(ctx, b.Content, key)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := contracts.ReadContentMetadata(key, bytes.NewReader(data), int64(len(data)), d)
		if err != nil || len(rows) != 4 {
			t.Fatalf("%s: %v (%d rows, want 4)", key, err, len(rows))
		}
		for _, r := range rows {
			if _, err := b.Content.Stat(ctx, r.VideoLocation); err != nil {
				t.Errorf("row %s points at a missing video: %v", r.ContentUUID, err)
			}
		}
	}
	for _, v := range ans.Videos {
		if len(v.Zones) > 0 {
			withZones++
		}
		if len(v.Zones) == 0 && v.Strangers == 0 {
			faceless++
		}
	}
	if withZones == 0 || faceless == 0 {
		t.Errorf("videos with zones: %d, faceless: %d; want some of each", withZones, faceless)
	}
	// The videos are real H.264 that ffprobe reads.
	v := ans.Videos[1]
	p := filepath.Join(t.TempDir(), "v.mp4")
	data, _ := store.ReadAll(ctx, b.Content, layout.Video(v.ContentUUID))
	os.WriteFile(p, data, 0o644)
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", p).Output()
	if err != nil || strings.TrimSpace(string(out)) != "h264,640,360" {
		t.Fatalf("ffprobe says %q (%v), want h264,640,360", out, err)
	}
}

func TestSampleIsDeterministic(t *testing.T) {
	ctx := context.Background()
	b1, a1 := generate(t, t.TempDir(), 3)
	b2, a2 := generate(t, t.TempDir(), 3)
	j1, _ := store.ReadAll(ctx, b1.Content, AnswerKey)
	j2, _ := store.ReadAll(ctx, b2.Content, AnswerKey)
	if !bytes.Equal(j1, j2) {
		t.Fatal("two samples of the same seed have different answers")
	}
	for _, v := range a1.Videos[:3] {
		x, _ := store.ReadAll(ctx, b1.Content, layout.Video(v.ContentUUID))
		y, _ := store.ReadAll(ctx, b2.Content, layout.Video(v.ContentUUID))
		if !bytes.Equal(x, y) {
			t.Errorf("video %s differs between two runs of the same seed", v.ContentUUID)
		}
	}
	_, a3 := generate(t, t.TempDir(), 4)
	if a3.Videos[0].ContentUUID == a2.Videos[0].ContentUUID {
		t.Error("a different seed gave the same content ids")
	}
	// A second Generate on a filled store returns at once with the same answer.
	_, again := generate(t, strings.TrimSuffix(strings.TrimPrefix(b1.Content.URL(), "file://"), "/prod-ugc-contents"), 3)
	if again.Videos[0].ContentUUID != a1.Videos[0].ContentUUID {
		t.Error("regenerating over an existing sample changed it")
	}
}
