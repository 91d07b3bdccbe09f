package contracts

import (
	"fmt"
	"io"
	"strings"
)

// Zone is one celebrity zone of a zone list.
type Zone struct {
	ID       string   // canonical lowercase UUID
	Name     string   // display name, never empty
	Keywords []string // optional, without empty entries
}

// Zone list columns, as WriteZoneList spells them (the seed's names).
const (
	colZoneListID   = "Zone ID"
	colZoneListName = "Zone Name"
	colKeywords     = "Keywords"
)

var zoneListColumns = []column{
	{name: colZoneListID, required: true},
	{name: colZoneListName, required: true},
	{name: colKeywords},
}

// ParseZoneList reads a zone list CSV (zone-list/{yyyy-mm-dd@batch}.csv).
// The header row is required; the Keywords column is optional. Zone IDs
// and names are trimmed of surrounding spaces, keywords are split on '|'
// and trimmed, and empty keywords dropped. It returns every problem in
// the file as Problems, naming name, the line and the column.
func ParseZoneList(name string, r io.Reader) ([]Zone, error) {
	ps := &problemSet{file: name}
	t := readCSVTable(ps, r, zoneListColumns)
	if t == nil {
		return nil, ps.err()
	}
	var zones []Zone
	firstLine := map[string]int{}
	for _, rec := range t.records {
		z := Zone{
			ID:       t.get(rec, colZoneListID),
			Name:     t.get(rec, colZoneListName),
			Keywords: splitKeywords(t.get(rec, colKeywords)),
		}
		bad := false
		if msg := checkUUID(z.ID); msg != "" {
			ps.add(rec.line, colZoneListID, "%s", msg)
			bad = true
		} else if first, dup := firstLine[z.ID]; dup {
			ps.add(rec.line, colZoneListID, "duplicate zone ID %s; expected each zone once (first on line %d)", z.ID, first)
			bad = true
		} else {
			firstLine[z.ID] = rec.line
		}
		if msg := checkText(z.Name, true); msg != "" {
			ps.add(rec.line, colZoneListName, "%s", msg)
			bad = true
		}
		for _, k := range z.Keywords {
			if msg := checkText(k, false); msg != "" {
				ps.add(rec.line, colKeywords, "keyword %s", msg)
				bad = true
			}
		}
		if !bad {
			zones = append(zones, z)
		}
	}
	if ps.empty() && len(zones) == 0 {
		ps.add(0, "", "has a header but no zones; expected at least one zone")
	}
	if !ps.empty() {
		return nil, ps.err()
	}
	return zones, nil
}

func splitKeywords(s string) []string {
	var out []string
	for _, k := range strings.Split(s, "|") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// WriteZoneList writes zones as a zone list CSV that ParseZoneList reads
// back unchanged. It refuses zones that ParseZoneList would reject.
func WriteZoneList(w io.Writer, zones []Zone) error {
	ps := &problemSet{file: "zone list being written"}
	seen := map[string]bool{}
	records := make([][]string, 0, len(zones))
	for i, z := range zones {
		field := fmt.Sprintf("zones[%d]", i)
		if msg := checkUUID(z.ID); msg != "" {
			ps.add(0, field+".ID", "%s", msg)
		} else if seen[z.ID] {
			ps.add(0, field+".ID", "duplicate zone ID %s", z.ID)
		}
		seen[z.ID] = true
		if z.Name != strings.TrimSpace(z.Name) {
			ps.add(0, field+".Name", "%q has surrounding spaces", z.Name)
		} else if msg := checkText(z.Name, true); msg != "" {
			ps.add(0, field+".Name", "%s", msg)
		}
		for _, k := range z.Keywords {
			if k == "" || k != strings.TrimSpace(k) || strings.Contains(k, "|") {
				ps.add(0, field+".Keywords", "keyword %q must be non-empty, without surrounding spaces or '|'", k)
			} else if msg := checkText(k, false); msg != "" {
				ps.add(0, field+".Keywords", "keyword %s", msg)
			}
		}
		records = append(records, []string{z.ID, z.Name, strings.Join(z.Keywords, "|")})
	}
	if len(zones) == 0 {
		ps.add(0, "", "no zones; a zone list has at least one")
	}
	if !ps.empty() {
		return ps.err()
	}
	return writeCSV(w, []string{colZoneListID, colZoneListName, colKeywords}, records)
}
