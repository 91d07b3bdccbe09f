package contracts

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// checkUUID says what is wrong with s as an identifier, or "" when s is a
// canonical UUID: 36 characters, lowercase hex in groups 8-4-4-4-12. Zone
// and content IDs name folders and objects, so one spelling is allowed.
func checkUUID(s string) string {
	if s == "" {
		return "is empty; expected a UUID like 3f2b8c1e-0d4a-4e5b-9c6d-7e8f9a0b1c2d"
	}
	if len(s) != 36 {
		return fmt.Sprintf("%q is not a UUID; expected 36 characters like 3f2b8c1e-0d4a-4e5b-9c6d-7e8f9a0b1c2d", clip(s))
	}
	upper := false
	for i := 0; i < 36; i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return fmt.Sprintf("%q is not a UUID; expected '-' at position %d", s, i+1)
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			upper = true
		default:
			return fmt.Sprintf("%q is not a UUID; expected hexadecimal digits, got %q at position %d", clip(s), rune(c), i+1)
		}
	}
	if upper {
		return fmt.Sprintf("%q has uppercase hex; expected the lowercase form %q", s, strings.ToLower(s))
	}
	if s == "00000000-0000-0000-0000-000000000000" {
		return "is the nil UUID; expected a real identifier"
	}
	return ""
}

// ValidUUID reports whether s is a canonical (lowercase) UUID.
func ValidUUID(s string) bool { return checkUUID(s) == "" }

// FaceID names the n-th face found in a video or ground-truth image set:
// face-01, face-02, ..., face-100. n starts at 1.
func FaceID(n int) string { return fmt.Sprintf("face-%02d", n) }

// ParseFaceID returns n for a face ID written by FaceID.
func ParseFaceID(s string) (int, error) {
	digits, ok := strings.CutPrefix(s, "face-")
	if ok {
		if n, err := strconv.Atoi(digits); err == nil && n >= 1 && FaceID(n) == s {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%q is not a face ID; expected face-NN with NN >= 01, like face-01", clip(s))
}

func checkFaceID(s string) string {
	if _, err := ParseFaceID(s); err != nil {
		return err.Error()
	}
	return ""
}

// DateLayout is how dates are written in names and fields: yyyy-mm-dd.
const DateLayout = "2006-01-02"

// ParseDate parses a yyyy-mm-dd date as midnight UTC.
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil || t.Format(DateLayout) != s {
		return time.Time{}, fmt.Errorf("%q is not a date; expected yyyy-mm-dd, like 2022-09-08", clip(s))
	}
	return t, nil
}

// BatchID names an upload of new zones by the external team:
// {yyyy-mm-dd}@{n}, the upload date and the batch number of that day.
type BatchID struct {
	Date time.Time // midnight UTC
	Num  int       // >= 1
}

func (b BatchID) String() string { return fmt.Sprintf("%s@%d", b.Date.Format(DateLayout), b.Num) }

// ParseBatchID parses a batch name such as 2022-09-08@1. The number has no
// leading zeros, so every batch has one spelling.
func ParseBatchID(s string) (BatchID, error) {
	date, num, ok := strings.Cut(s, "@")
	if !ok {
		return BatchID{}, fmt.Errorf("%q is not a batch name; expected {yyyy-mm-dd}@{n}, like 2022-09-08@1", clip(s))
	}
	d, err := ParseDate(date)
	if err != nil {
		return BatchID{}, fmt.Errorf("batch %q: %w", clip(s), err)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || strconv.Itoa(n) != num {
		return BatchID{}, fmt.Errorf("batch %q: batch number %q is not a whole number >= 1 without leading zeros", clip(s), clip(num))
	}
	return BatchID{Date: d, Num: n}, nil
}

// checkText says what is wrong with a one-line text field, or "".
func checkText(s string, required bool) string {
	if s == "" {
		if required {
			return "is empty; expected a value"
		}
		return ""
	}
	if !utf8.ValidString(s) {
		return fmt.Sprintf("%q is not valid UTF-8", clip(s))
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Sprintf("%q contains control character %U; expected one line of text", clip(s), r)
		}
	}
	return ""
}

// checkNote is checkText for free text that may span lines.
func checkNote(s string) string {
	if !utf8.ValidString(s) {
		return fmt.Sprintf("%q is not valid UTF-8", clip(s))
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return fmt.Sprintf("%q contains control character %U", clip(s), r)
		}
	}
	return ""
}

func checkDistance(d float64) string {
	if math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
		return fmt.Sprintf("%v is not a distance; expected a finite number >= 0", d)
	}
	return ""
}

// clip shortens long values quoted in messages.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Runner names one of the two jobs that produce predictions.
type Runner string

const (
	DailyRunner    Runner = "daily-runner"
	NewBatchRunner Runner = "new-batch-runner"
)

// checkRun says what is wrong with a (runner, run) pair, or "": a daily
// run is named by its date (2022-09-07), a new-batch run by its batch
// (2022-09-08@1).
func checkRun(runner Runner, run string) (field, msg string) {
	switch runner {
	case DailyRunner:
		if _, err := ParseDate(run); err != nil {
			return "run", "daily-runner run " + err.Error()
		}
	case NewBatchRunner:
		if _, err := ParseBatchID(run); err != nil {
			return "run", "new-batch-runner run " + err.Error()
		}
	default:
		return "runner", fmt.Sprintf("%q is not a runner; expected %s or %s", clip(string(runner)), DailyRunner, NewBatchRunner)
	}
	return "", ""
}
