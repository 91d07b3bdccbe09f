package contracts

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PredictedRow is one identification for the QC team: one face of one
// video and the zone cz assigned it. A predicted-data CSV
// (predicted-data/daily-runner/{date}.csv,
// predicted-data/new-batch-runner/{date@batch}.csv) holds the rows of one
// run, sorted by content_uuid and face number.
type PredictedRow struct {
	Runner             Runner
	Run                string // the date (daily) or batch (new-batch)
	JobID              string
	ContentUUID        string
	VideoLocation      string
	FaceID             string
	FaceImage          string // key of the face JPEG
	ZoneID             string
	ZoneName           string
	Distance           float64
	EmbeddingModelName string
}

// Verdict is the QC team's judgement of one identification.
type Verdict string

const (
	VerdictCorrect   Verdict = "correct"
	VerdictIncorrect Verdict = "incorrect"
	VerdictUnsure    Verdict = "unsure"
)

// ValidatedRow is a predicted row with the QC team's verdict, a row of a
// validated-data CSV (validated-data/..., named as the predicted file).
type ValidatedRow struct {
	PredictedRow
	Verdict Verdict
	// CorrectedZoneID is the right zone, when the verdict is incorrect and
	// the reviewer knows it; optional.
	CorrectedZoneID string
	Reviewer        string    // optional
	ReviewedAt      time.Time // optional; zero when not given
	Notes           string    // optional free text
}

// Predicted- and validated-data columns, in the order the writers put them.
const (
	colRunner             = "runner"
	colRun                = "run"
	colJobID              = "job_id"
	colContentUUID        = "content_uuid"
	colVideoLocation      = "video_location"
	colFaceID             = "face_id"
	colFaceImage          = "face_image"
	colZoneID             = "zone_id"
	colZoneName           = "zone_name"
	colDistance           = "distance"
	colEmbeddingModelName = "embedding_model_name"
	colVerdict            = "verdict"
	colCorrectedZoneID    = "corrected_zone_id"
	colReviewer           = "reviewer"
	colReviewedAt         = "reviewed_at"
	colNotes              = "notes"
)

var predictedColumns = []column{
	{colRunner, true}, {colRun, true}, {colJobID, true}, {colContentUUID, true}, {colVideoLocation, true},
	{colFaceID, true}, {colFaceImage, true}, {colZoneID, true}, {colZoneName, true}, {colDistance, true},
	{colEmbeddingModelName, true},
}

var validatedColumns = append(slices.Clone(predictedColumns),
	column{colVerdict, true}, column{colCorrectedZoneID, false}, column{colReviewer, false},
	column{colReviewedAt, false}, column{colNotes, false})

func columnNamesOf(cols []column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return names
}

// ParsePredicted reads a predicted-data CSV. Columns may come in any order
// but all must be present; unknown columns, bad values and repeated faces
// are problems.
func ParsePredicted(name string, r io.Reader) ([]PredictedRow, error) {
	ps := &problemSet{file: name}
	t := readCSVTable(ps, r, predictedColumns)
	if t == nil {
		return nil, ps.err()
	}
	rows := make([]PredictedRow, 0, len(t.records))
	seen := map[[2]string]int{}
	for _, rec := range t.records {
		p, ok := parsePredictedRow(ps, t, rec)
		if ok && checkUnique(ps, seen, rec.line, p) {
			rows = append(rows, p)
		}
	}
	if !ps.empty() {
		return nil, ps.err()
	}
	return rows, nil
}

// ParseValidated reads a validated-data CSV: the predicted columns plus
// verdict (correct, incorrect or unsure, any case) and the optional
// corrected_zone_id, reviewer, reviewed_at (RFC 3339 or yyyy-mm-dd) and
// notes columns.
func ParseValidated(name string, r io.Reader) ([]ValidatedRow, error) {
	ps := &problemSet{file: name}
	t := readCSVTable(ps, r, validatedColumns)
	if t == nil {
		return nil, ps.err()
	}
	rows := make([]ValidatedRow, 0, len(t.records))
	seen := map[[2]string]int{}
	for _, rec := range t.records {
		p, ok := parsePredictedRow(ps, t, rec)
		v := ValidatedRow{
			PredictedRow:    p,
			Verdict:         Verdict(strings.ToLower(t.get(rec, colVerdict))),
			CorrectedZoneID: t.get(rec, colCorrectedZoneID),
			Reviewer:        t.get(rec, colReviewer),
			Notes:           t.get(rec, colNotes),
		}
		if s := t.get(rec, colReviewedAt); s != "" {
			ts, err := parseReviewTime(s)
			if err != nil {
				ps.add(rec.line, colReviewedAt, "%v", err)
				ok = false
			}
			v.ReviewedAt = ts
		}
		ok = v.checkVerdict(ps, rec.line) && ok
		if ok && checkUnique(ps, seen, rec.line, p) {
			rows = append(rows, v)
		}
	}
	if !ps.empty() {
		return nil, ps.err()
	}
	return rows, nil
}

func parseReviewTime(s string) (time.Time, error) {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		ts, err = time.Parse(DateLayout, s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time; expected RFC 3339 (2022-09-08T14:03:00Z) or a date (2022-09-08)", clip(s))
	}
	ts = ts.UTC()
	if ts.Year() < 2000 || ts.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%q is out of range; expected a time between the years 2000 and 9999", clip(s))
	}
	return ts, nil
}

func checkUnique(ps *problemSet, seen map[[2]string]int, line int, p PredictedRow) bool {
	key := [2]string{p.ContentUUID, p.FaceID}
	if first, dup := seen[key]; dup {
		ps.add(line, colFaceID, "face %s of content %s appears again; expected one row per face (first on line %d)", p.FaceID, p.ContentUUID, first)
		return false
	}
	seen[key] = line
	return true
}

func parsePredictedRow(ps *problemSet, t *csvTable, rec csvRecord) (PredictedRow, bool) {
	p := PredictedRow{
		Runner:             Runner(t.get(rec, colRunner)),
		Run:                t.get(rec, colRun),
		JobID:              t.get(rec, colJobID),
		ContentUUID:        t.get(rec, colContentUUID),
		VideoLocation:      t.get(rec, colVideoLocation),
		FaceID:             t.get(rec, colFaceID),
		FaceImage:          t.get(rec, colFaceImage),
		ZoneID:             t.get(rec, colZoneID),
		ZoneName:           t.get(rec, colZoneName),
		EmbeddingModelName: t.get(rec, colEmbeddingModelName),
	}
	ok := true
	if s := t.get(rec, colDistance); s == "" {
		ps.add(rec.line, colDistance, "is empty; expected a number >= 0")
		ok = false
	} else if d, err := strconv.ParseFloat(s, 64); err != nil {
		ps.add(rec.line, colDistance, "%q is not a number; expected a distance like 0.42", clip(s))
		ok = false
	} else {
		p.Distance = d
	}
	return p, p.check(ps, rec.line) && ok
}

// check adds p's problems to ps and reports whether there were none.
func (p PredictedRow) check(ps *problemSet, line int) bool {
	ok := true
	add := func(field, msg string) {
		if msg != "" {
			ps.add(line, field, "%s", msg)
			ok = false
		}
	}
	add(checkRun(p.Runner, p.Run))
	add(colJobID, checkText(p.JobID, true))
	add(colContentUUID, checkUUID(p.ContentUUID))
	add(colVideoLocation, checkText(p.VideoLocation, true))
	add(colFaceID, checkFaceID(p.FaceID))
	add(colFaceImage, checkText(p.FaceImage, true))
	add(colZoneID, checkUUID(p.ZoneID))
	add(colZoneName, checkText(p.ZoneName, true))
	add(colDistance, checkDistance(p.Distance))
	add(colEmbeddingModelName, checkText(p.EmbeddingModelName, true))
	return ok
}

func (v ValidatedRow) checkVerdict(ps *problemSet, line int) bool {
	ok := true
	add := func(field, format string, args ...any) {
		ps.add(line, field, format, args...)
		ok = false
	}
	switch v.Verdict {
	case VerdictCorrect, VerdictIncorrect, VerdictUnsure:
	case "":
		add(colVerdict, "is empty; expected correct, incorrect or unsure")
	default:
		add(colVerdict, "%q is not a verdict; expected correct, incorrect or unsure", clip(string(v.Verdict)))
	}
	if v.CorrectedZoneID != "" {
		if msg := checkUUID(v.CorrectedZoneID); msg != "" {
			add(colCorrectedZoneID, "%s", msg)
		} else if v.Verdict != VerdictIncorrect {
			add(colCorrectedZoneID, "is set but the verdict is %q; expected a corrected zone only with verdict incorrect", v.Verdict)
		} else if v.CorrectedZoneID == v.ZoneID {
			add(colCorrectedZoneID, "equals the predicted zone_id; expected a different zone or an empty field")
		}
	}
	if msg := checkText(v.Reviewer, false); msg != "" {
		add(colReviewer, "%s", msg)
	}
	if !v.ReviewedAt.IsZero() && (v.ReviewedAt.Year() < 2000 || v.ReviewedAt.Year() > 9999) {
		add(colReviewedAt, "%s is out of range; expected a time between the years 2000 and 9999", v.ReviewedAt)
	}
	if msg := checkNote(v.Notes); msg != "" {
		add(colNotes, "%s", msg)
	}
	return ok
}

func comparePredicted(a, b PredictedRow) int {
	na, _ := ParseFaceID(a.FaceID)
	nb, _ := ParseFaceID(b.FaceID)
	return cmp.Or(strings.Compare(a.ContentUUID, b.ContentUUID), cmp.Compare(na, nb))
}

func (p PredictedRow) record() []string {
	return []string{string(p.Runner), p.Run, p.JobID, p.ContentUUID, p.VideoLocation, p.FaceID, p.FaceImage,
		p.ZoneID, p.ZoneName, strconv.FormatFloat(p.Distance, 'f', -1, 64), p.EmbeddingModelName}
}

// WritePredicted writes rows as a predicted-data CSV, sorted by
// content_uuid and face number, refusing rows ParsePredicted would reject.
// Problems name the row by its index in rows, from 1.
func WritePredicted(w io.Writer, rows []PredictedRow) error {
	ps := &problemSet{file: "predicted data being written"}
	seen := map[[2]string]int{}
	for i, p := range rows {
		if p.check(ps, i+1) {
			checkUnique(ps, seen, i+1, p)
		}
	}
	if !ps.empty() {
		return ps.err()
	}
	sorted := slices.SortedStableFunc(slices.Values(rows), comparePredicted)
	records := make([][]string, len(sorted))
	for i, p := range sorted {
		records[i] = p.record()
	}
	return writeCSV(w, columnNamesOf(predictedColumns), records)
}

// WriteValidated writes rows as a validated-data CSV with every column,
// sorted as WritePredicted sorts, refusing rows ParseValidated would
// reject.
func WriteValidated(w io.Writer, rows []ValidatedRow) error {
	ps := &problemSet{file: "validated data being written"}
	seen := map[[2]string]int{}
	for i, v := range rows {
		ok := v.PredictedRow.check(ps, i+1)
		ok = v.checkVerdict(ps, i+1) && ok
		if ok {
			checkUnique(ps, seen, i+1, v.PredictedRow)
		}
	}
	if !ps.empty() {
		return ps.err()
	}
	sorted := slices.SortedStableFunc(slices.Values(rows), func(a, b ValidatedRow) int { return comparePredicted(a.PredictedRow, b.PredictedRow) })
	records := make([][]string, len(sorted))
	for i, v := range sorted {
		reviewed := ""
		if !v.ReviewedAt.IsZero() {
			reviewed = v.ReviewedAt.UTC().Format(time.RFC3339Nano)
		}
		records[i] = append(v.record(), string(v.Verdict), v.CorrectedZoneID, v.Reviewer, reviewed, v.Notes)
	}
	return writeCSV(w, columnNamesOf(validatedColumns), records)
}
