package contracts

import (
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// readParquet reads every row of a Parquet file into T, after checking that
// the file has each required column with the physical type T gives it.
// Columns of T that are not required may be absent; their fields stay
// zero. check validates one row (row numbers are 1-based).
func readParquet[T any](name string, r io.ReaderAt, size int64, required []string, check func(ps *problemSet, row int, v *T)) (rows []T, err error) {
	ps := &problemSet{file: name}
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		ps.add(0, "", "not a readable Parquet file: %v", err)
		return nil, ps.err()
	}
	want := parquet.SchemaOf(new(T))
	for _, col := range required {
		got, ok := f.Schema().Lookup(col)
		if !ok {
			ps.add(0, col, "required column %s is missing; the file has columns %s", col, columnNames(f.Schema()))
			continue
		}
		exp, _ := want.Lookup(col)
		if g, e := got.Node.Type().Kind(), exp.Node.Type().Kind(); g != e {
			ps.add(0, col, "column %s holds %v values; expected %v", col, g, e)
		}
	}
	if !ps.empty() {
		return nil, ps.err()
	}
	if _, err := parquet.Convert(want, f.Schema()); err != nil {
		ps.add(0, "", "columns do not match the contract: %v", err)
		return nil, ps.err()
	}
	defer func() {
		// The reader panics on some malformed files; a bad file is a
		// problem to report, not a crash.
		if p := recover(); p != nil {
			ps.add(0, "", "malformed Parquet file: %v", p)
			rows, err = nil, ps.err()
		}
	}()
	reader := parquet.NewGenericReader[T](f)
	defer reader.Close()
	buf := make([]T, 256)
	for {
		// The reader reuses maps and slices found in buf: clear it first.
		clear(buf)
		n, err := reader.Read(buf)
		for i := range n {
			check(ps, len(rows)+1, &buf[i])
			rows = append(rows, buf[i])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			ps.add(len(rows)+1, "", "cannot read row: %v", err)
			break
		}
	}
	if !ps.empty() {
		return nil, ps.err()
	}
	return rows, nil
}

func columnNames(s *parquet.Schema) string {
	var names []string
	for _, path := range s.Columns() {
		names = append(names, strings.Join(path, "."))
	}
	return strings.Join(names, ", ")
}

// writeParquet writes rows as one Snappy-compressed Parquet file.
func writeParquet[T any](w io.Writer, rows []T) error {
	pw := parquet.NewGenericWriter[T](w, parquet.Compression(&parquet.Snappy))
	if _, err := pw.Write(rows); err != nil {
		return fmt.Errorf("writing Parquet: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("writing Parquet: %w", err)
	}
	return nil
}
