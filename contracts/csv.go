package contracts

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// The CSV files of this package share one reading discipline: a UTF-8 BOM
// is skipped, CRLF and LF line endings are both accepted, fields may be
// quoted (RFC 4180), blank lines are skipped, the first record is a header
// naming the columns, and every later record has exactly as many fields as
// the header. Header names match case-insensitively and ignoring spaces,
// '_' and '-', so "Zone ID", "zone_id" and "ZoneID" are one column.

// column is one column of a CSV contract.
type column struct {
	name     string // canonical name, as the writer spells it
	required bool
}

// csvRecord is one data record and the line it starts on.
type csvRecord struct {
	line   int
	fields []string
}

// csvTable is a CSV file read against a list of columns.
type csvTable struct {
	index   map[string]int // canonical column name -> field index
	records []csvRecord    // data records with the right number of fields
}

// get returns the field of column name in rec, trimmed, or "" when the
// (optional) column is absent.
func (t *csvTable) get(rec csvRecord, name string) string {
	i, ok := t.index[name]
	if !ok {
		return ""
	}
	return strings.TrimSpace(rec.fields[i])
}

func (t *csvTable) has(name string) bool {
	_, ok := t.index[name]
	return ok
}

// headerKey folds a header name for matching.
func headerKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func columnList(cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
		if !c.required {
			names[i] += " (optional)"
		}
	}
	return strings.Join(names, ", ")
}

// readCSVTable reads a whole CSV file. It returns nil when the file cannot
// be read as a table at all (syntax error, no header); problems with
// individual records are added to ps and those records left out.
func readCSVTable(ps *problemSet, r io.Reader, cols []column) *csvTable {
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // counted here, to say which columns are expected

	var header []string
	var headerLine int
	t := &csvTable{index: map[string]int{}}
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				ps.add(pe.Line, "", "CSV syntax error: %v (a field with a quote or comma in it must be quoted, and quotes inside doubled)", pe.Err)
			} else {
				ps.add(0, "", "cannot read: %v", err)
			}
			return nil
		}
		line, _ := cr.FieldPos(0)
		if header == nil {
			header, headerLine = fields, line
			if !readHeader(ps, t, header, headerLine, cols) {
				return nil
			}
			continue
		}
		if len(fields) != len(header) {
			ps.add(line, "", "has %d fields; expected %d, one for each header column (%s)", len(fields), len(header), strings.Join(header, ", "))
			continue
		}
		t.records = append(t.records, csvRecord{line: line, fields: fields})
	}
	if header == nil {
		ps.add(0, "", "file is empty; expected a header row with columns %s", columnList(cols))
		return nil
	}
	return t
}

func readHeader(ps *problemSet, t *csvTable, header []string, line int, cols []column) bool {
	byKey := map[string]string{}
	for _, c := range cols {
		byKey[headerKey(c.name)] = c.name
	}
	for _, h := range header {
		if ValidUUID(strings.TrimSpace(h)) {
			ps.add(line, "", "the first line holds data (%q); expected a header row naming the columns %s", clip(h), columnList(cols))
			return false
		}
	}
	ok := true
	for i, h := range header {
		name, known := byKey[headerKey(h)]
		switch {
		case !known:
			ps.add(line, h, "unknown column %q; expected the header to name the columns %s", clip(h), columnList(cols))
			ok = false
		case t.has(name):
			ps.add(line, h, "column %s appears twice in the header (fields %d and %d)", name, t.index[name]+1, i+1)
			ok = false
		default:
			t.index[name] = i
		}
	}
	for _, c := range cols {
		if c.required && !t.has(c.name) {
			ps.add(line, c.name, "required column %s is missing from the header (got %s)", c.name, strings.Join(header, ", "))
			ok = false
		}
	}
	return ok
}

// writeCSV writes a header and records with LF line endings.
func writeCSV(w io.Writer, header []string, records [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	if err := cw.WriteAll(records); err != nil {
		return fmt.Errorf("writing CSV: %w", err)
	}
	return nil
}
