package contracts

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func intermediateFace(content, face, zone string) IntermediateFace {
	return IntermediateFace{
		ContentUUID: content, FaceID: face, ZoneID: zone, NearestZoneID: zoneA, Distance: 0.31, Quality: 0.97,
		FrameMillis: 1500, BoxX: 10, BoxY: 20, BoxW: 64, BoxH: 80,
		FaceImage: "candidates/faces/" + content + "/" + face + ".jpg", EmbeddingModelName: "dlib-resnet29", IndexVersion: "v3",
		Runner: NewBatchRunner, Run: "2022-09-08@1", JobID: "job-9", Attempt: 1, ProcessedAt: t1,
	}
}

func TestIntermediateRoundTrip(t *testing.T) {
	rows := []IntermediateFace{intermediateFace(uuidN(1), "face-01", zoneA), intermediateFace(uuidN(1), "face-02", "")}
	var buf bytes.Buffer
	if err := WriteIntermediate(&buf, rows); err != nil {
		t.Fatalf("WriteIntermediate: %v", err)
	}
	got, err := ReadIntermediate("i.parquet", bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil || !reflect.DeepEqual(got, rows) {
		t.Fatalf("read back %+v, %v; expected %+v", got, err, rows)
	}
}

func TestIntermediateRejects(t *testing.T) {
	bad := intermediateFace(uuidN(1), "face-1", "nope")
	bad.Quality, bad.BoxW, bad.Attempt, bad.ProcessedAt, bad.Run = 1.5, 0, 0, time.Time{}, "2022-09-08"
	dup := intermediateFace(uuidN(2), "face-01", "")
	rows := []IntermediateFace{dup, bad, dup}
	data := parquetBytes(t, rows) // written without the writer's checks
	_, err := ReadIntermediate("i.parquet", bytes.NewReader(data), int64(len(data)))
	checkProblems(t, err,
		`i.parquet:2: face_id: "face-1" is not a face ID`,
		`i.parquet:2: zone_id: "nope" is not a UUID`,
		"i.parquet:2: quality: is 1.5; expected a detector score in [0, 1]",
		"i.parquet:2: box_x: box (10, 20, 0, 80) is not a box",
		`i.parquet:2: run: new-batch-runner run "2022-09-08" is not a batch name`,
		"i.parquet:2: attempt: is 0; expected 1 or more",
		"i.parquet:2: processed_at: is not set",
		"i.parquet:3: face_id: duplicate face face-01 of content "+uuidN(2)+"; expected each face once (first in row 1)",
	)
	if err := WriteIntermediate(&bytes.Buffer{}, rows); err == nil {
		t.Error("WriteIntermediate accepted bad rows; expected the same problems")
	}
}

func TestIntermediateMissingColumn(t *testing.T) {
	data := parquetBytes(t, []requiredOnly{{ContentUUID: uuidN(1)}})
	_, err := ReadIntermediate("i.parquet", bytes.NewReader(data), int64(len(data)))
	checkProblems(t, err,
		"i.parquet: face_id: required column face_id is missing; the file has columns content_uuid, video_location, upload_ts, views, likes, shares",
		"i.parquet: zone_id: required", "i.parquet: nearest_zone_id: required", "i.parquet: distance: required", "i.parquet: quality: required",
		"i.parquet: frame_ms: required", "i.parquet: box_x: required", "i.parquet: box_y: required", "i.parquet: box_w: required", "i.parquet: box_h: required",
		"i.parquet: face_image: required", "i.parquet: embedding_model_name: required", "i.parquet: index_version: required",
		"i.parquet: runner: required", "i.parquet: run: required", "i.parquet: job_id: required", "i.parquet: attempt: required", "i.parquet: processed_at: required",
	)
}
