package contracts

import (
	"strings"
	"testing"
	"time"
)

func TestCheckUUID(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: "" for valid, else a part of the message
	}{
		{"3f2b8c1e-0d4a-4e5b-9c6d-7e8f9a0b1c2d", ""},
		{"", "is empty"},
		{"3f2b8c1e0d4a4e5b9c6d7e8f9a0b1c2d", "expected 36 characters"},
		{"3F2B8C1E-0D4A-4E5B-9C6D-7E8F9A0B1C2D", `expected the lowercase form "3f2b8c1e-0d4a-4e5b-9c6d-7e8f9a0b1c2d"`},
		{"3f2b8c1e_0d4a-4e5b-9c6d-7e8f9a0b1c2d", "expected '-' at position 9"},
		{"3f2b8c1e-0d4a-4e5b-9c6d-7e8f9a0b1c2g", "got 'g' at position 36"},
		{"00000000-0000-0000-0000-000000000000", "nil UUID"},
		{"{3f2b8c1e-0d4a-4e5b-9c6d-7e8f9a0b1c}", "got '{' at position 1"},
	} {
		got := checkUUID(tc.in)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("checkUUID(%q) = %q; expected a message containing %q (empty: valid)", tc.in, got, tc.want)
		}
	}
}

func TestBatchID(t *testing.T) {
	for _, tc := range []struct {
		in      string
		date    string
		num     int
		wantErr string
	}{
		{in: "2022-09-08@1", date: "2022-09-08", num: 1},
		{in: "2024-02-29@12", date: "2024-02-29", num: 12},
		{in: "2022-09-08", wantErr: "expected {yyyy-mm-dd}@{n}"},
		{in: "2022-9-8@1", wantErr: "expected yyyy-mm-dd"},
		{in: "2023-02-29@1", wantErr: "expected yyyy-mm-dd"},
		{in: "2022-09-08@0", wantErr: "whole number >= 1"},
		{in: "2022-09-08@01", wantErr: "without leading zeros"},
		{in: "2022-09-08@-1", wantErr: "whole number >= 1"},
		{in: "2022-09-08@1@2", wantErr: "whole number"},
	} {
		b, err := ParseBatchID(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseBatchID(%q) error = %v; expected one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseBatchID(%q): %v; expected it to parse", tc.in, err)
			continue
		}
		if b.Date.Format(DateLayout) != tc.date || b.Num != tc.num || b.Date.Location() != time.UTC {
			t.Errorf("ParseBatchID(%q) = %v %d %v; expected %s %d UTC", tc.in, b.Date, b.Num, b.Date.Location(), tc.date, tc.num)
		}
		if b.String() != tc.in {
			t.Errorf("String() = %q; expected %q", b.String(), tc.in)
		}
	}
}

func TestFaceID(t *testing.T) {
	for n, s := range map[int]string{1: "face-01", 9: "face-09", 42: "face-42", 100: "face-100"} {
		if got := FaceID(n); got != s {
			t.Errorf("FaceID(%d) = %q; expected %q", n, got, s)
		}
		if got, err := ParseFaceID(s); err != nil || got != n {
			t.Errorf("ParseFaceID(%q) = %d, %v; expected %d", s, got, err, n)
		}
	}
	for _, bad := range []string{"face-1", "face-00", "face-001", "Face-01", "face-+1", "face-", "01"} {
		if _, err := ParseFaceID(bad); err == nil {
			t.Errorf("ParseFaceID(%q) succeeded; expected an error", bad)
		}
	}
}

func TestCheckRun(t *testing.T) {
	for _, tc := range []struct {
		runner     Runner
		run, field string
	}{
		{DailyRunner, "2022-09-07", ""},
		{NewBatchRunner, "2022-09-08@1", ""},
		{DailyRunner, "2022-09-08@1", "run"},
		{NewBatchRunner, "2022-09-08", "run"},
		{"weekly-runner", "2022-09-08", "runner"},
	} {
		field, msg := checkRun(tc.runner, tc.run)
		if field != tc.field || (tc.field == "") != (msg == "") {
			t.Errorf("checkRun(%q, %q) = %q, %q; expected a problem with field %q (none when empty)", tc.runner, tc.run, field, msg, tc.field)
		}
	}
}
