package contracts

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	zoneA = "3f2b8c1e-0d4a-4e5b-9c6d-7e8f9a0b1c2d"
	zoneB = "9a1c4d2e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
	zoneC = "0b6e7f80-91a2-4b3c-8d4e-5f6071829304"
)

func TestParseZoneListAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []Zone
	}{
		{
			name: "seed header with keywords",
			in:   "Zone ID,Zone Name,Keywords\n" + zoneA + ",Ada Lovelace,math|poetry\n" + zoneB + ",Alan Turing,\n",
			want: []Zone{{ID: zoneA, Name: "Ada Lovelace", Keywords: []string{"math", "poetry"}}, {ID: zoneB, Name: "Alan Turing"}},
		},
		{
			name: "snake_case header without keywords, columns reordered",
			in:   "zone_name,zone_id\nAda Lovelace," + zoneA + "\n",
			want: []Zone{{ID: zoneA, Name: "Ada Lovelace"}},
		},
		{
			name: "surrounding spaces trimmed, blank lines skipped, no trailing newline",
			in:   "Zone ID , Zone Name\n\n  " + zoneA + " ,  Ada  \n\n" + zoneC + ",Grace Hopper",
			want: []Zone{{ID: zoneA, Name: "Ada"}, {ID: zoneC, Name: "Grace Hopper"}},
		},
		{
			name: "BOM and CRLF",
			in:   "\ufeffZone ID,Zone Name,Keywords\r\n" + zoneA + ",\"Lovelace, Ada \"\"the Countess\"\"\",\" math | poetry||\"\r\n",
			want: []Zone{{ID: zoneA, Name: `Lovelace, Ada "the Countess"`, Keywords: []string{"math", "poetry"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseZoneList("zone-list/2022-09-08@1.csv", strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("expected the list to parse; got %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v; expected %+v", got, tc.want)
			}
		})
	}
}

func TestParseZoneListRejects(t *testing.T) {
	const f = "zone-list/2022-09-08@1.csv"
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"empty file", "", []string{f + ": file is empty; expected a header row"}},
		{"only a BOM and blank lines", "\ufeff\n\r\n", []string{f + ": file is empty"}},
		{"header only", "Zone ID,Zone Name\n", []string{f + ": has a header but no zones"}},
		{"no header", zoneA + ",Ada\n", []string{f + ":1: the first line holds data"}},
		{"missing required column", "Zone ID,Keywords\n" + zoneA + ",x\n", []string{f + ":1: Zone Name: required column Zone Name is missing"}},
		{"unknown and repeated columns", "Zone ID,Zone Name,Country,zone_id\n", []string{
			f + `:1: Country: unknown column "Country"`, f + ":1: zone_id: column Zone ID appears twice",
		}},
		{"every row problem is reported", "Zone ID,Zone Name,Keywords\n" +
			zoneA + ",Ada,\n" +
			"not-a-uuid,Bob,\n" +
			zoneA + ",Ada again,\n" +
			zoneB + ",  ,\n" +
			zoneC + ",Grace\n" +
			zoneC + ",Grace,x,extra\n" +
			strings.ToUpper(zoneC) + ",Grace,\n" +
			"\"" + zoneC + "\",\"Grace\nHopper\",\n", []string{
			f + `:3: Zone ID: "not-a-uuid" is not a UUID`,
			f + ":4: Zone ID: duplicate zone ID " + zoneA + "; expected each zone once (first on line 2)",
			f + ":5: Zone Name: is empty",
			f + ":6: has 2 fields; expected 3",
			f + ":7: has 4 fields; expected 3",
			f + ":8: Zone ID: " + `"` + strings.ToUpper(zoneC) + `" has uppercase hex`,
			f + ":9: Zone Name: " + `"Grace\nHopper" contains control character U+000A`,
		}},
		{"bad quoting stops at the line", "Zone ID,Zone Name\n" + zoneA + ",Ada \"the\" Countess\n", []string{f + ":2: CSV syntax error"}},
		{"invalid UTF-8", "Zone ID,Zone Name\n" + zoneA + ",\xff\xfe\n", []string{f + ":2: Zone Name: \"\\xff\\xfe\" is not valid UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zones, err := ParseZoneList(f, strings.NewReader(tc.in))
			if zones != nil {
				t.Errorf("got zones %+v; expected none with an error", zones)
			}
			checkProblems(t, err, tc.want...)
		})
	}
}

func TestZoneListRoundTrip(t *testing.T) {
	zones := []Zone{
		{ID: zoneA, Name: `Lovelace, Ada "the Countess"`, Keywords: []string{"math", "poetry"}},
		{ID: zoneB, Name: "Алан Тьюринг"},
	}
	var buf bytes.Buffer
	if err := WriteZoneList(&buf, zones); err != nil {
		t.Fatalf("WriteZoneList: %v", err)
	}
	if !strings.HasPrefix(buf.String(), "Zone ID,Zone Name,Keywords\n") {
		t.Errorf("written list starts %q; expected the seed's header", buf.String())
	}
	got, err := ParseZoneList("w.csv", &buf)
	if err != nil || !reflect.DeepEqual(got, zones) {
		t.Fatalf("read back %+v, %v; expected %+v", got, err, zones)
	}
}

func TestWriteZoneListRefuses(t *testing.T) {
	err := WriteZoneList(&bytes.Buffer{}, []Zone{{ID: zoneA, Name: " Ada", Keywords: []string{"a|b"}}, {ID: zoneA, Name: ""}})
	checkProblems(t, err,
		`zone list being written: zones[0].Name: " Ada" has surrounding spaces`,
		`zone list being written: zones[0].Keywords: keyword "a|b"`,
		`zone list being written: zones[1].ID: duplicate zone ID`,
		`zone list being written: zones[1].Name: is empty`)
}

func TestParseZoneListCapsProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("Zone ID,Zone Name\n")
	long := strings.Repeat("ж", 100) // clipped in messages, on a rune boundary
	for range maxProblems + 50 {
		b.WriteString(long + ",x\n")
	}
	_, err := ParseZoneList("z.csv", strings.NewReader(b.String()))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != maxProblems+1 {
		t.Fatalf("got %d problems; expected %d and a summary", len(ps), maxProblems+1)
	}
	if last := ps[len(ps)-1].String(); last != "z.csv: 50 more problems not shown" {
		t.Errorf("last problem %q; expected the count of those left out", last)
	}
	if first := ps[0].Msg; !strings.Contains(first, strings.Repeat("ж", 30)+`..."`) || !utf8.ValidString(first) {
		t.Errorf("first problem %q; expected the long value clipped to 60 bytes of valid UTF-8", first)
	}
}
