// Package layout owns every object location of the pipeline, in the seed
// design's layout (docs/architecture.md lists them). Nothing else in the
// code base spells out a key: runners, the index and the tools ask layout.
//
// Three buckets, each configured by URL:
//   - External: shared with the external QC team (ground-truth uploads,
//     zone lists, predicted and validated data).
//   - Internal: private to the pipeline (faces, embeddings, metadata,
//     intermediate data, index versions, job logs).
//   - Content: the content-metadata table, one Parquet partition per day.
package layout

import (
	"context"
	"fmt"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/store"
)

// Config names the three buckets by URL (s3://bucket/prefix or file:///dir).
type Config struct {
	External string `json:"external"`
	Internal string `json:"internal"`
	Content  string `json:"content"`
}

// Local is the embedded default: three folders under one directory.
func Local(dir string) Config {
	return Config{
		External: "file://" + dir + "/cz-external-bucket",
		Internal: "file://" + dir + "/cz-internal-bucket",
		Content:  "file://" + dir + "/prod-ugc-contents",
	}
}

// Buckets are the three opened buckets.
type Buckets struct {
	External, Internal, Content store.Bucket
}

// Open opens the three buckets of a configuration.
func Open(ctx context.Context, c Config) (*Buckets, error) {
	var b Buckets
	for _, x := range []struct {
		name string
		url  string
		dst  *store.Bucket
	}{{"external", c.External, &b.External}, {"internal", c.Internal, &b.Internal}, {"content", c.Content, &b.Content}} {
		if x.url == "" {
			return nil, fmt.Errorf("layout: the %s bucket URL is not configured", x.name)
		}
		bk, err := store.Open(ctx, x.url)
		if err != nil {
			return nil, fmt.Errorf("layout: %s bucket: %w", x.name, err)
		}
		*x.dst = bk
	}
	return &b, nil
}

// Batch names one upload of the external team: {yyyy-mm-dd}@{n}.
type Batch = contracts.BatchID

// Runner names, as they appear in paths.
const (
	DailyRunner    = string(contracts.DailyRunner)
	NewBatchRunner = string(contracts.NewBatchRunner)
)

// Embedding sets of a candidate.
const (
	Complete     = "complete"
	Unidentified = "unidentified"
)

// ---- External bucket ----

// GroundTruthImages is the folder of one batch's uploaded photos:
// ground-truth-images/{batch}/{zone-id}/{image}.
func GroundTruthImages(b Batch) string { return "ground-truth-images/" + b.String() + "/" }

// ZoneList is the zone list of a batch: zone-list/{batch}.csv.
func ZoneList(b Batch) string { return "zone-list/" + b.String() + ".csv" }

// ZoneListPrefix is where zone lists are uploaded (the Lambda's trigger).
const ZoneListPrefix = "zone-list/"

// ValidationReport sits next to an upload that failed validation.
func ValidationReport(b Batch) string { return "zone-list/" + b.String() + ".validation-report.json" }

// PredictedDaily is the QC team's input for one daily run.
func PredictedDaily(date time.Time) string {
	return "predicted-data/" + DailyRunner + "/" + date.Format(contracts.DateLayout) + ".csv"
}

// PredictedBatch is the QC team's input for one new-zone batch.
func PredictedBatch(b Batch) string {
	return "predicted-data/" + NewBatchRunner + "/" + b.String() + ".csv"
}

// ValidatedPrefix holds the QC team's verdicts, one file per predicted file
// with the same name.
func ValidatedPrefix(runner string) string { return "validated-data/" + runner + "/" }

// ---- Internal bucket ----

// GroundTruthFaces is the folder of a zone's cropped ground-truth faces.
func GroundTruthFaces(zoneID string) string { return "ground-truth-faces/" + zoneID + "/" }

// ZoneRegistry lists every zone the ground truth holds, with names and
// keywords, merged from every batch's zone list.
const ZoneRegistry = "ground-truth-faces/zones.json"

// GroundTruthFace is one cropped ground-truth face (JPEG).
func GroundTruthFace(zoneID string, n int) string {
	return GroundTruthFaces(zoneID) + contracts.FaceID(n) + ".jpg"
}

// GroundTruthEmbedding is the embedding of GroundTruthFace (npy).
func GroundTruthEmbedding(zoneID string, n int) string {
	return GroundTruthFaces(zoneID) + contracts.FaceID(n) + ".npy"
}

// CandidateFace is a face found in a video (JPEG).
func CandidateFace(contentUUID, face string) string {
	return "candidates/faces/" + contentUUID + "/" + face + ".jpg"
}

// CandidateEmbeddings is the folder of one embedding set (complete or
// unidentified) of one model.
func CandidateEmbeddings(model, set string) string {
	return "candidates/embeddings/" + model + "/" + set + "/"
}

// CandidateEmbedding is one face's embedding (npy) in a set.
func CandidateEmbedding(model, set, contentUUID, face string) string {
	return CandidateEmbeddings(model, set) + contentUUID + "/" + face + ".npy"
}

// CandidateMetadata is the metadata JSON of one content.
func CandidateMetadata(model, contentUUID string) string {
	return "candidates/metadata/" + model + "/" + contentUUID + ".json"
}

// IntermediateDaily holds the Parquet intermediate data of a daily run.
func IntermediateDaily(date time.Time) string {
	return "intermediate-data/" + DailyRunner + "/" + date.Format("2006/01/02") + "/"
}

// IntermediateBatch holds the Parquet intermediate data of a batch run.
func IntermediateBatch(b Batch) string {
	return fmt.Sprintf("intermediate-data/%s/%s/%d/", NewBatchRunner, b.Date.Format("2006/01/02"), b.Num)
}

// Index is the folder of an embedding model's index versions (v1, v2, ...
// and the latest pointer); the seed kept ScaNN models here.
func Index(model string) string { return "intermediate-data/scann/" + model }

// JobLogs is where a job's event log and task logs go (the seed's EMR logs).
func JobLogs(runner string, date time.Time, batchNum int, jobID string) string {
	if runner == NewBatchRunner {
		return fmt.Sprintf("intermediate-data/job-logs/%s/%s/%d/%s/", runner, date.Format("2006/01/02"), batchNum, jobID)
	}
	return fmt.Sprintf("intermediate-data/job-logs/%s/%s/%s/", runner, date.Format("2006/01/02"), jobID)
}

// ValidationMetrics holds the key metrics computed from the QC team's
// validated data (precision per zone, per run and overall).
const ValidationMetrics = "intermediate-data/metrics/validation.json"

// Lock holds the locks of runs that must not overlap (the seed's to-do:
// ground-truth folder locking for parallel batch runs).
func Lock(name string) string { return "locks/" + name + ".lock" }

// ---- Content bucket ----

// ContentPartition is one day's partition of the content-metadata table,
// Hive-style as Athena reads it.
func ContentPartition(date time.Time) string {
	return "content-metadata/dt=" + date.Format(contracts.DateLayout) + "/"
}

// Videos is where the sample keeps its video files (production videos live
// wherever the content table's video_location points).
func Video(contentUUID string) string { return "videos/" + contentUUID + ".mp4" }
