package contracts

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var day = time.Date(2022, 9, 7, 0, 0, 0, 0, time.UTC)

func sampleContent(n int) []ContentMetadata {
	rows := make([]ContentMetadata, n)
	for i := range rows {
		rows[i] = ContentMetadata{
			ContentUUID:     uuidN(i + 1),
			VideoLocation:   "videos/2022/09/07/" + uuidN(i+1) + ".mp4",
			UploadTS:        day.Add(time.Duration(i) * time.Minute).Add(123 * time.Microsecond),
			Views:           int64(10 * i),
			Likes:           int64(i),
			Shares:          int64(i / 2),
			DurationSeconds: 12.5,
			SizeBytes:       1 << 20,
			Width:           1280,
			Height:          720,
			Language:        "en",
			CreatorID:       "creator-7",
		}
		if i%2 == 0 { // some rows with tags, some without: exercises buffer reuse
			rows[i].Tags = []string{"music", "live"}[:1+i%2]
		}
	}
	return rows
}

// uuidN is a valid UUID that differs in its last digits.
func uuidN(n int) string { return fmt.Sprintf("3f2b8c1e-0d4a-4e5b-9c6d-%012d", n) }

func TestContentMetadataRoundTrip(t *testing.T) {
	rows := sampleContent(600) // more than one read buffer
	var buf bytes.Buffer
	if err := WriteContentMetadata(&buf, rows, day); err != nil {
		t.Fatalf("WriteContentMetadata: %v", err)
	}
	got, err := ReadContentMetadata("p.parquet", bytes.NewReader(buf.Bytes()), int64(buf.Len()), day)
	if err != nil {
		t.Fatalf("ReadContentMetadata: %v", err)
	}
	if len(got) != len(rows) {
		t.Fatalf("read %d rows; expected %d", len(got), len(rows))
	}
	for i := range rows {
		if !contentEqual(got[i], rows[i]) {
			t.Fatalf("row %d read back as %+v; expected %+v", i+1, got[i], rows[i])
		}
	}
}

func contentEqual(a, b ContentMetadata) bool {
	if !slices.Equal(a.Tags, b.Tags) || !a.UploadTS.Equal(b.UploadTS) {
		return false
	}
	a.Tags, b.Tags = nil, nil
	a.UploadTS, b.UploadTS = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// requiredOnly is a file with just the required columns.
type requiredOnly struct {
	ContentUUID   string    `parquet:"content_uuid"`
	VideoLocation string    `parquet:"video_location"`
	UploadTS      time.Time `parquet:"upload_ts,timestamp(microsecond)"`
	Views         int64     `parquet:"views"`
	Likes         int64     `parquet:"likes"`
	Shares        int64     `parquet:"shares"`
}

type noLikes struct {
	ContentUUID   string    `parquet:"content_uuid"`
	VideoLocation string    `parquet:"video_location"`
	UploadTS      time.Time `parquet:"upload_ts,timestamp(microsecond)"`
	Views         string    `parquet:"views"`
	Shares        int64     `parquet:"shares"`
}

func parquetBytes[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeParquet(&buf, rows); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestContentMetadataOptionalColumnsMayBeAbsent(t *testing.T) {
	data := parquetBytes(t, []requiredOnly{{ContentUUID: uuidN(1), VideoLocation: "v.mp4", UploadTS: day.Add(time.Hour), Views: 5}})
	got, err := ReadContentMetadata("p.parquet", bytes.NewReader(data), int64(len(data)), day)
	if err != nil {
		t.Fatalf("expected a file with only the required columns to read; got %v", err)
	}
	if len(got) != 1 || got[0].Views != 5 || got[0].DurationSeconds != 0 || got[0].Tags != nil {
		t.Fatalf("got %+v; expected one row with views 5 and zero optional fields", got)
	}
}

func TestContentMetadataMissingAndMistypedColumns(t *testing.T) {
	data := parquetBytes(t, []noLikes{{ContentUUID: uuidN(1), VideoLocation: "v.mp4", UploadTS: day, Views: "5"}})
	_, err := ReadContentMetadata("dt=2022-09-07/p.parquet", bytes.NewReader(data), int64(len(data)), day)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("expected Problems; got %v", err)
	}
	want := map[string]string{"likes": "required column likes is missing", "views": "expected INT64"}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems; expected %d:\n%v", len(ps), len(want), err)
	}
	for _, p := range ps {
		if p.File != "dt=2022-09-07/p.parquet" || !strings.Contains(p.Msg, want[p.Field]) {
			t.Errorf("problem %q; expected file dt=2022-09-07/p.parquet and, for field %s, a message containing %q", p, p.Field, want[p.Field])
		}
	}
}

func TestContentMetadataRowProblems(t *testing.T) {
	rows := []requiredOnly{
		{ContentUUID: uuidN(1), VideoLocation: "a.mp4", UploadTS: day, Views: 1},
		{ContentUUID: "not-a-uuid", VideoLocation: "b.mp4", UploadTS: day.Add(24 * time.Hour), Views: -1},
		{ContentUUID: uuidN(1), VideoLocation: "", UploadTS: day.Add(-time.Second), Shares: -2},
	}
	data := parquetBytes(t, rows)
	_, err := ReadContentMetadata("p.parquet", bytes.NewReader(data), int64(len(data)), day)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("expected Problems; got %v", err)
	}
	want := []string{
		"p.parquet:2: content_uuid:", "p.parquet:2: upload_ts: 2022-09-08T00:00:00Z is outside the partition", "p.parquet:2: views: is -1",
		"p.parquet:3: video_location: is empty", "p.parquet:3: upload_ts:", "p.parquet:3: shares: is -2", "p.parquet:3: content_uuid: duplicate content",
	}
	text := err.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("expected a problem starting %q; got:\n%s", w, text)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems; expected %d:\n%s", len(ps), len(want), text)
	}
}

func TestContentMetadataNotParquet(t *testing.T) {
	data := []byte("content_uuid,views\n")
	_, err := ReadContentMetadata("p.parquet", bytes.NewReader(data), int64(len(data)), day)
	if err == nil || !strings.Contains(err.Error(), "p.parquet: not a readable Parquet file") {
		t.Fatalf("expected 'not a readable Parquet file' naming p.parquet; got %v", err)
	}
}

func TestWriteContentMetadataRefusesBadRows(t *testing.T) {
	rows := sampleContent(1)
	rows[0].UploadTS = day.Add(-time.Hour)
	if err := WriteContentMetadata(&bytes.Buffer{}, rows, day); err == nil || !strings.Contains(err.Error(), "upload_ts") {
		t.Fatalf("expected an upload_ts problem; got %v", err)
	}
}

// Other writers (Spark, Athena) pick their own timestamp unit.
type millisContent struct {
	ContentUUID   string    `parquet:"content_uuid"`
	VideoLocation string    `parquet:"video_location"`
	UploadTS      time.Time `parquet:"upload_ts,timestamp(millisecond)"`
	Views         int32     `parquet:"views"`
	Likes         int64     `parquet:"likes"`
	Shares        int64     `parquet:"shares"`
	Extra         string    `parquet:"extra"`
}

func TestContentMetadataOtherTimestampUnit(t *testing.T) {
	ts := day.Add(90 * time.Minute)
	data := parquetBytes(t, []millisContent{{ContentUUID: uuidN(1), VideoLocation: "v.mp4", UploadTS: ts, Likes: 3, Extra: "x"}})
	_, err := ReadContentMetadata("p.parquet", bytes.NewReader(data), int64(len(data)), day)
	checkProblems(t, err, "p.parquet: views: column views holds INT32 values; expected INT64")

	data = parquetBytes(t, []requiredOnlyMillis{{ContentUUID: uuidN(1), VideoLocation: "v.mp4", UploadTS: ts, Likes: 3}})
	got, err := ReadContentMetadata("p.parquet", bytes.NewReader(data), int64(len(data)), day)
	if err != nil || len(got) != 1 || !got[0].UploadTS.Equal(ts) || got[0].Likes != 3 {
		t.Fatalf("got %+v, %v; expected one row uploaded at %v with 3 likes", got, err, ts)
	}
}

type requiredOnlyMillis struct {
	ContentUUID   string    `parquet:"content_uuid"`
	VideoLocation string    `parquet:"video_location"`
	UploadTS      time.Time `parquet:"upload_ts,timestamp(millisecond)"`
	Views         int64     `parquet:"views"`
	Likes         int64     `parquet:"likes"`
	Shares        int64     `parquet:"shares"`
	Extra         string    `parquet:"extra"`
}
