package contracts

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func predicted(content, face, zone string) PredictedRow {
	return PredictedRow{
		Runner: DailyRunner, Run: "2022-09-07", JobID: "job-42",
		ContentUUID: content, VideoLocation: "videos/" + content + ".mp4",
		FaceID: face, FaceImage: "candidates/faces/" + content + "/" + face + ".jpg",
		ZoneID: zone, ZoneName: "Ada, \"the Countess\"", Distance: 0.4123, EmbeddingModelName: "dlib-resnet29",
	}
}

const predictedHeader = "runner,run,job_id,content_uuid,video_location,face_id,face_image,zone_id,zone_name,distance,embedding_model_name"

func TestPredictedRoundTripSorted(t *testing.T) {
	rows := []PredictedRow{predicted(uuidN(2), "face-10", zoneA), predicted(uuidN(1), "face-02", zoneB), predicted(uuidN(2), "face-09", zoneC), predicted(uuidN(2), "face-100", zoneA)}
	var buf bytes.Buffer
	if err := WritePredicted(&buf, rows); err != nil {
		t.Fatalf("WritePredicted: %v", err)
	}
	lines := strings.Split(buf.String(), "\n")
	if lines[0] != predictedHeader {
		t.Errorf("header %q; expected %q", lines[0], predictedHeader)
	}
	got, err := ParsePredicted("p.csv", &buf)
	if err != nil {
		t.Fatalf("ParsePredicted: %v", err)
	}
	want := []PredictedRow{rows[1], rows[2], rows[0], rows[3]} // by content, then face number
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v; expected %+v", got, want)
	}
}

func TestParsePredictedRejects(t *testing.T) {
	good := strings.Join(predicted(uuidN(1), "face-01", zoneA).record(), ",")
	good = strings.Replace(good, `Ada, "the Countess"`, "Ada", 1)
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", []string{"p.csv: file is empty; expected a header row with columns runner, run"}},
		{"missing column", strings.Replace(predictedHeader, ",distance", "", 1) + "\n", []string{"p.csv:1: distance: required column distance is missing"}},
		{"validated file given as predicted", predictedHeader + ",verdict\n", []string{`p.csv:1: verdict: unknown column "verdict"`}},
		{"bad values, each reported", predictedHeader + "\n" + good + "\n" +
			"weekly,2022-09-07,,not-uuid,,face-1,,zone,,-0.5,\n" +
			"daily-runner,2022-09-07@1,j," + uuidN(2) + ",v,face-01,f," + zoneA + ",A,abc,m\n" +
			good + "\n", []string{
			`p.csv:3: runner: "weekly" is not a runner`,
			"p.csv:3: job_id: is empty", `p.csv:3: content_uuid: "not-uuid" is not a UUID`, "p.csv:3: video_location: is empty",
			`p.csv:3: face_id: "face-1" is not a face ID`, "p.csv:3: face_image: is empty", `p.csv:3: zone_id: "zone" is not a UUID`,
			"p.csv:3: zone_name: is empty", "p.csv:3: distance: -0.5 is not a distance", "p.csv:3: embedding_model_name: is empty",
			`p.csv:4: run: daily-runner run "2022-09-07@1" is not a date`, `p.csv:4: distance: "abc" is not a number`,
			"p.csv:5: face_id: face face-01 of content " + uuidN(1) + " appears again; expected one row per face (first on line 2)",
		}},
		{"NaN and Inf", predictedHeader + "\n" + strings.Replace(good, "0.4123", "NaN", 1) + "\n", []string{"p.csv:2: distance: NaN is not a distance"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePredicted("p.csv", strings.NewReader(tc.in))
			checkProblems(t, err, tc.want...)
		})
	}
}

func TestValidatedRoundTrip(t *testing.T) {
	rows := []ValidatedRow{
		{PredictedRow: predicted(uuidN(2), "face-01", zoneA), Verdict: VerdictIncorrect, CorrectedZoneID: zoneB, Reviewer: "qc-7",
			ReviewedAt: time.Date(2022, 9, 8, 14, 3, 0, 500, time.UTC), Notes: "looks like B,\nnot A"},
		{PredictedRow: predicted(uuidN(1), "face-01", zoneA), Verdict: VerdictCorrect},
		{PredictedRow: predicted(uuidN(1), "face-02", zoneC), Verdict: VerdictUnsure, Reviewer: "qc-8"},
	}
	var buf bytes.Buffer
	if err := WriteValidated(&buf, rows); err != nil {
		t.Fatalf("WriteValidated: %v", err)
	}
	if h := strings.SplitN(buf.String(), "\n", 2)[0]; h != predictedHeader+",verdict,corrected_zone_id,reviewer,reviewed_at,notes" {
		t.Errorf("header %q; expected the predicted columns and verdict, corrected_zone_id, reviewer, reviewed_at, notes", h)
	}
	got, err := ParseValidated("v.csv", &buf)
	if err != nil {
		t.Fatalf("ParseValidated: %v", err)
	}
	if want := []ValidatedRow{rows[1], rows[2], rows[0]}; !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v; expected %+v", got, want)
	}
}

// A QC reviewer's spreadsheet export: BOM, CRLF, reordered columns, no
// optional columns but reviewed_at, capitalised verdicts, dates only.
func TestParseValidatedFromSpreadsheet(t *testing.T) {
	p := predicted(uuidN(1), "face-01", zoneA)
	in := "\ufeffVerdict,Reviewed At," + predictedHeader + "\r\n" +
		"Correct,2022-09-08," + strings.Join(p.record(), ",")
	in = strings.Replace(in, `Ada, "the Countess"`, `"Ada, ""the Countess"""`, 1) + "\r\n"
	got, err := ParseValidated("v.csv", strings.NewReader(in))
	if err != nil {
		t.Fatalf("ParseValidated: %v", err)
	}
	want := []ValidatedRow{{PredictedRow: p, Verdict: VerdictCorrect, ReviewedAt: time.Date(2022, 9, 8, 0, 0, 0, 0, time.UTC)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v; expected %+v", got, want)
	}
}

func TestParseValidatedRejects(t *testing.T) {
	header := predictedHeader + ",verdict,corrected_zone_id,reviewer,reviewed_at,notes\n"
	row := func(content, verdict, corrected, reviewedAt string) string {
		return strings.Join(predicted(content, "face-01", zoneA).record()[:8], ",") + ",Ada,0.4,m," + verdict + "," + corrected + ",qc," + reviewedAt + ",\n"
	}
	in := header +
		row(uuidN(1), "", "", "") +
		row(uuidN(2), "maybe", "", "") +
		row(uuidN(3), "correct", zoneB, "") +
		row(uuidN(4), "incorrect", zoneA, "") +
		row(uuidN(5), "incorrect", "B", "yesterday") +
		row(uuidN(6), "unsure", "", "0001-01-01T00:00:00Z") +
		"runner,run,job_id,content_uuid,video_location,face_id,face_image,zone_id,zone_name,distance,embedding_model_name,verdict,corrected_zone_id,reviewer,reviewed_at,notes\n"
	_, err := ParseValidated("v.csv", strings.NewReader(in))
	checkProblems(t, err,
		"v.csv:2: verdict: is empty; expected correct, incorrect or unsure",
		`v.csv:3: verdict: "maybe" is not a verdict`,
		`v.csv:4: corrected_zone_id: is set but the verdict is "correct"`,
		"v.csv:5: corrected_zone_id: equals the predicted zone_id",
		`v.csv:6: corrected_zone_id: "B" is not a UUID`,
		`v.csv:6: reviewed_at: "yesterday" is not a time`,
		`v.csv:7: reviewed_at: "0001-01-01T00:00:00Z" is out of range`,
		`v.csv:8: runner: "runner" is not a runner`, // a repeated header is data
		"v.csv:8: content_uuid:", "v.csv:8: face_id:", "v.csv:8: zone_id:", `v.csv:8: distance: "distance" is not a number`,
		`v.csv:8: verdict: "verdict" is not a verdict`, `v.csv:8: corrected_zone_id: "corrected_zone_id" is not a UUID`,
		`v.csv:8: reviewed_at: "reviewed_at" is not a time`,
	)
}

func TestWritePredictedRefuses(t *testing.T) {
	bad := predicted(uuidN(1), "face-01", zoneA)
	bad.Distance = -1
	err := WritePredicted(&bytes.Buffer{}, []PredictedRow{predicted(uuidN(1), "face-01", zoneA), bad, predicted(uuidN(1), "face-01", zoneB)})
	checkProblems(t, err, "predicted data being written:2: distance: -1 is not a distance", "predicted data being written:3: face_id: face face-01 of content")
}
