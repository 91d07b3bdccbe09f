package contracts

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and run with every
// `go test`; `make fuzz` searches further.

// checkFuzzError asserts that a rejection is Problems naming the file.
func checkFuzzError(t *testing.T, name string, err error) {
	var ps Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("error %v is not a non-empty Problems", err)
	}
	for _, p := range ps {
		if p.File != name || p.Msg == "" {
			t.Fatalf("problem %+v; expected file %q and a message", p, name)
		}
	}
}

// FuzzParseZoneList: ParseZoneList never panics, rejects with Problems,
// and what it accepts is valid and round-trips through WriteZoneList.
func FuzzParseZoneList(f *testing.F) {
	f.Add([]byte("Zone ID,Zone Name,Keywords\n" + zoneA + ",Ada,a|b\n"))
	f.Add([]byte("\ufeffzone_id,zone_name\r\n\"" + zoneB + "\",\"Turing, Alan\"\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "zone-list/fuzz.csv"
		zones, err := ParseZoneList(name, bytes.NewReader(data))
		if err != nil {
			checkFuzzError(t, name, err)
			return
		}
		if len(zones) == 0 {
			t.Fatal("accepted a list without zones")
		}
		var buf bytes.Buffer
		if err := WriteZoneList(&buf, zones); err != nil {
			t.Fatalf("accepted zones %+v that WriteZoneList refuses: %v", zones, err)
		}
		back, err := ParseZoneList(name, &buf)
		if err != nil || !reflect.DeepEqual(back, zones) {
			t.Fatalf("round trip gave %+v, %v; expected %+v\nwritten:\n%s", back, err, zones, buf.String())
		}
	})
}

// FuzzParseValidated: ParseValidated never panics, rejects with Problems,
// and what it accepts round-trips through WriteValidated (sorted).
func FuzzParseValidated(f *testing.F) {
	f.Add([]byte(predictedHeader + ",verdict\n" +
		"daily-runner,2022-09-07,j," + zoneA + ",v.mp4,face-01,f.jpg," + zoneB + ",Ada,0.5,m,correct\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "validated-data/fuzz.csv"
		rows, err := ParseValidated(name, bytes.NewReader(data))
		if err != nil {
			checkFuzzError(t, name, err)
			return
		}
		var buf bytes.Buffer
		if err := WriteValidated(&buf, rows); err != nil {
			t.Fatalf("accepted rows %+v that WriteValidated refuses: %v", rows, err)
		}
		back, err := ParseValidated(name, &buf)
		want := slices.SortedStableFunc(slices.Values(rows), func(a, b ValidatedRow) int { return comparePredicted(a.PredictedRow, b.PredictedRow) })
		if err != nil || len(back) != len(want) || (len(want) > 0 && !reflect.DeepEqual(back, want)) {
			t.Fatalf("round trip gave %+v, %v; expected %+v\nwritten:\n%s", back, err, want, buf.String())
		}
	})
}
