package contracts

import (
	"io"
	"math"
	"time"
)

// IntermediateFace is one detected face of one candidate video, a row of
// the intermediate Parquet that both runners write
// (intermediate-data/{runner}/yyyy/mm/dd/[batch/]*.parquet). It keeps what
// inference saw, so that thresholds can be tuned and runs compared later.
type IntermediateFace struct {
	ContentUUID string `parquet:"content_uuid"`
	FaceID      string `parquet:"face_id"` // face-01, ...
	// ZoneID is the identified zone; empty when the face is unidentified.
	ZoneID string `parquet:"zone_id"`
	// NearestZoneID and Distance describe the nearest ground-truth face,
	// whether or not it was close enough to identify the face.
	NearestZoneID string  `parquet:"nearest_zone_id"`
	Distance      float64 `parquet:"distance"`
	// Quality is the detector's score in [0, 1].
	Quality float32 `parquet:"quality"`
	// FrameMillis is where in the video the face was taken from.
	FrameMillis int64 `parquet:"frame_ms"`
	// The face's box in the frame, in pixels.
	BoxX int32 `parquet:"box_x"`
	BoxY int32 `parquet:"box_y"`
	BoxW int32 `parquet:"box_w"`
	BoxH int32 `parquet:"box_h"`
	// FaceImage is the key of the face JPEG (candidates/faces/...).
	FaceImage          string    `parquet:"face_image"`
	EmbeddingModelName string    `parquet:"embedding_model_name"`
	IndexVersion       string    `parquet:"index_version"`
	Runner             Runner    `parquet:"runner"`
	Run                string    `parquet:"run"` // date or batch
	JobID              string    `parquet:"job_id"`
	Attempt            int32     `parquet:"attempt"` // 1 for the first try
	ProcessedAt        time.Time `parquet:"processed_at,timestamp(millisecond)"`
}

// IntermediateRequiredColumns are the columns every intermediate file has:
// all of them, since cz alone writes these files.
var IntermediateRequiredColumns = []string{
	"content_uuid", "face_id", "zone_id", "nearest_zone_id", "distance", "quality", "frame_ms",
	"box_x", "box_y", "box_w", "box_h", "face_image", "embedding_model_name", "index_version",
	"runner", "run", "job_id", "attempt", "processed_at",
}

// ReadIntermediate reads one intermediate Parquet file, checking its
// columns and every row.
func ReadIntermediate(name string, r io.ReaderAt, size int64) ([]IntermediateFace, error) {
	seen := map[[2]string]int{}
	return readParquet(name, r, size, IntermediateRequiredColumns, func(ps *problemSet, row int, f *IntermediateFace) {
		f.ProcessedAt = f.ProcessedAt.UTC()
		f.checkRow(ps, row)
		key := [2]string{f.ContentUUID, f.FaceID}
		if first, dup := seen[key]; dup {
			ps.add(row, "face_id", "duplicate face %s of content %s; expected each face once (first in row %d)", f.FaceID, f.ContentUUID, first)
		} else {
			seen[key] = row
		}
	})
}

// WriteIntermediate writes rows as one intermediate Parquet file, refusing
// rows that ReadIntermediate would reject.
func WriteIntermediate(w io.Writer, rows []IntermediateFace) error {
	ps := &problemSet{file: "intermediate data being written"}
	seen := map[[2]string]bool{}
	for i := range rows {
		rows[i].checkRow(ps, i+1)
		key := [2]string{rows[i].ContentUUID, rows[i].FaceID}
		if seen[key] {
			ps.add(i+1, "face_id", "duplicate face %s of content %s", key[1], key[0])
		}
		seen[key] = true
	}
	if !ps.empty() {
		return ps.err()
	}
	return writeParquet(w, rows)
}

func (f *IntermediateFace) checkRow(ps *problemSet, row int) {
	for _, c := range []struct{ field, msg string }{
		{"content_uuid", checkUUID(f.ContentUUID)},
		{"face_id", checkFaceID(f.FaceID)},
		{"nearest_zone_id", checkUUID(f.NearestZoneID)},
		{"distance", checkDistance(f.Distance)},
		{"face_image", checkText(f.FaceImage, true)},
		{"embedding_model_name", checkText(f.EmbeddingModelName, true)},
		{"index_version", checkText(f.IndexVersion, true)},
		{"job_id", checkText(f.JobID, true)},
	} {
		if c.msg != "" {
			ps.add(row, c.field, "%s", c.msg)
		}
	}
	if f.ZoneID != "" {
		if msg := checkUUID(f.ZoneID); msg != "" {
			ps.add(row, "zone_id", "%s (or empty for an unidentified face)", msg)
		}
	}
	if q := float64(f.Quality); math.IsNaN(q) || q < 0 || q > 1 {
		ps.add(row, "quality", "is %v; expected a detector score in [0, 1]", q)
	}
	if f.FrameMillis < 0 {
		ps.add(row, "frame_ms", "is %d; expected a position >= 0", f.FrameMillis)
	}
	if f.BoxX < 0 || f.BoxY < 0 || f.BoxW <= 0 || f.BoxH <= 0 {
		ps.add(row, "box_x", "box (%d, %d, %d, %d) is not a box; expected x, y >= 0 and width, height > 0", f.BoxX, f.BoxY, f.BoxW, f.BoxH)
	}
	if field, msg := checkRun(f.Runner, f.Run); msg != "" {
		ps.add(row, field, "%s", msg)
	}
	if f.Attempt < 1 {
		ps.add(row, "attempt", "is %d; expected 1 or more", f.Attempt)
	}
	// parquet-go writes a zero time.Time as the Unix epoch.
	if !f.ProcessedAt.After(time.Unix(0, 0)) {
		ps.add(row, "processed_at", "is not set; expected when the face was processed (after 1970)")
	}
}
