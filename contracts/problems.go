package contracts

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with an input file.
type Problem struct {
	// File names the input (an object key or path).
	File string
	// Line is the 1-based line of a text file, or the 1-based row of a
	// Parquet file; 0 when the problem concerns the whole file.
	Line int
	// Field names the column or JSON field; empty when the problem
	// concerns a whole line or file.
	Field string
	// Msg says what is wrong and what was expected.
	Msg string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Field != "" {
		fmt.Fprintf(&b, ": %s", p.Field)
	}
	b.WriteString(": ")
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one or more files. It is the error
// type returned by the parsers in this package.
type Problems []Problem

// maxProblems bounds the problems kept for one file, so that a file of a
// million bad rows gives a readable error.
const maxProblems = 200

func (ps Problems) Error() string {
	switch len(ps) {
	case 0:
		return "no problems"
	case 1:
		return ps[0].String()
	}
	lines := make([]string, 0, len(ps)+1)
	lines = append(lines, fmt.Sprintf("%d problems:", len(ps)))
	for _, p := range ps {
		lines = append(lines, "  "+p.String())
	}
	return strings.Join(lines, "\n")
}

// Err returns ps as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// problemSet collects the problems of one file.
type problemSet struct {
	file    string
	list    Problems
	dropped int
}

func (s *problemSet) add(line int, field, format string, args ...any) {
	if len(s.list) >= maxProblems {
		s.dropped++
		return
	}
	s.list = append(s.list, Problem{File: s.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (s *problemSet) empty() bool { return len(s.list) == 0 && s.dropped == 0 }

func (s *problemSet) problems() Problems {
	if s.dropped > 0 {
		return append(s.list, Problem{File: s.file, Msg: fmt.Sprintf("%d more problems not shown", s.dropped)})
	}
	return s.list
}

func (s *problemSet) err() error { return s.problems().Err() }
