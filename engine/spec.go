package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// SpecVersion is the version of the job spec format this engine reads.
const SpecVersion = 1

// JobSpec is a job as data: a DAG of stages. It is what clients submit, as
// JSON, and what the state machine stores.
type JobSpec struct {
	// Version is the spec format version (SpecVersion).
	Version int `json:"version"`
	// Name is a human name for the job, such as "daily-2026-11-28".
	Name string `json:"name"`
	// Params are handed to every task (a stage's Params override them).
	Params map[string]string `json:"params,omitempty"`
	// Stages in any order; Upstream names define the DAG.
	Stages []StageSpec `json:"stages"`
	// MaxAttempts is how many times a task may fail before the job fails
	// (default 3). Lost attempts (an executor vanished) do not count.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Speculation enables speculative copies of straggling tasks.
	Speculation bool `json:"speculation,omitempty"`
}

// StageSpec is one node of the DAG: an operator run over N partitions.
type StageSpec struct {
	Name string `json:"name"`
	// Operator is the name an operator was registered under.
	Operator string `json:"operator"`
	// Partitions is the number of tasks of the stage (>= 1).
	Partitions int `json:"partitions"`
	// Upstream are the stages whose committed output this stage reads;
	// it starts when all of them are committed.
	Upstream []string `json:"upstream,omitempty"`
	// Resources one task of this stage needs on an executor.
	Resources Resources `json:"resources"`
	// Params override the job's Params for this stage's tasks.
	Params map[string]string `json:"params,omitempty"`
	// Locality optionally names, per partition, the input a task prefers
	// to find already loaded on its executor (such as "ann-shard-3").
	// Executors that advertise the key are preferred.
	Locality []string `json:"locality,omitempty"`
}

// Resources are what a task needs or what an executor offers.
type Resources struct {
	CPU      int   `json:"cpu"`
	GPU      int   `json:"gpu,omitempty"`
	MemoryMB int64 `json:"memory_mb,omitempty"`
}

// Fits reports whether need fits into r.
func (r Resources) Fits(need Resources) bool {
	return need.CPU <= r.CPU && need.GPU <= r.GPU && need.MemoryMB <= r.MemoryMB
}

// Sub returns r minus o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{CPU: r.CPU - o.CPU, GPU: r.GPU - o.GPU, MemoryMB: r.MemoryMB - o.MemoryMB}
}

// Add returns r plus o.
func (r Resources) Add(o Resources) Resources {
	return Resources{CPU: r.CPU + o.CPU, GPU: r.GPU + o.GPU, MemoryMB: r.MemoryMB + o.MemoryMB}
}

func (r Resources) String() string {
	return fmt.Sprintf("cpu=%d gpu=%d mem=%dMB", r.CPU, r.GPU, r.MemoryMB)
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// Validate checks a spec and fills defaults. Its errors name the field.
func (s *JobSpec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Version != SpecVersion {
		bad("version: %d is not supported (want %d)", s.Version, SpecVersion)
	}
	if strings.TrimSpace(s.Name) == "" {
		bad("name: empty")
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = 3
	}
	if s.MaxAttempts < 0 {
		bad("max_attempts: %d is negative", s.MaxAttempts)
	}
	if len(s.Stages) == 0 {
		bad("stages: empty")
	}
	index := map[string]int{}
	for i, st := range s.Stages {
		if !nameRE.MatchString(st.Name) {
			bad("stages[%d].name: %q must match %s", i, st.Name, nameRE)
		}
		if _, dup := index[st.Name]; dup {
			bad("stages[%d].name: %q is used twice", i, st.Name)
		}
		index[st.Name] = i
	}
	for i := range s.Stages {
		st := &s.Stages[i]
		if st.Operator == "" {
			bad("stages[%d].operator: empty", i)
		} else if Lookup(st.Operator) == nil {
			bad("stages[%d].operator: %q is not registered", i, st.Operator)
		}
		if st.Partitions < 1 {
			bad("stages[%d].partitions: %d, want >= 1", i, st.Partitions)
		}
		if st.Resources.CPU == 0 && st.Resources.GPU == 0 {
			st.Resources.CPU = 1
		}
		if st.Resources.CPU < 0 || st.Resources.GPU < 0 || st.Resources.MemoryMB < 0 {
			bad("stages[%d].resources: negative (%s)", i, st.Resources)
		}
		if len(st.Locality) != 0 && len(st.Locality) != st.Partitions {
			bad("stages[%d].locality: %d keys for %d partitions", i, len(st.Locality), st.Partitions)
		}
		for _, up := range st.Upstream {
			if _, ok := index[up]; !ok {
				bad("stages[%d].upstream: %q is not a stage of this job", i, up)
			}
		}
	}
	if len(errs) == 0 {
		if cyc := s.cycle(); cyc != "" {
			bad("stages: cycle through %s", cyc)
		}
	}
	return errors.Join(errs...)
}

// cycle returns a stage on a cycle of the DAG, or "".
func (s *JobSpec) cycle() string {
	up := map[string][]string{}
	for _, st := range s.Stages {
		up[st.Name] = st.Upstream
	}
	const (
		unseen = iota
		visiting
		done
	)
	mark := map[string]int{}
	var visit func(n string) string
	visit = func(n string) string {
		switch mark[n] {
		case visiting:
			return n
		case done:
			return ""
		}
		mark[n] = visiting
		for _, u := range up[n] {
			if c := visit(u); c != "" {
				return c
			}
		}
		mark[n] = done
		return ""
	}
	for _, st := range s.Stages {
		if c := visit(st.Name); c != "" {
			return c
		}
	}
	return ""
}

// Stage returns the named stage spec.
func (s *JobSpec) Stage(name string) *StageSpec {
	for i := range s.Stages {
		if s.Stages[i].Name == name {
			return &s.Stages[i]
		}
	}
	return nil
}

// ParseSpec decodes and validates a JSON job spec; errors name the source
// and, for syntax errors, the line.
func ParseSpec(source string, data []byte) (JobSpec, error) {
	var s JobSpec
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return s, fmt.Errorf("%s:%d: %v", source, lineOf(data, se.Offset), err)
		case errors.As(err, &te):
			return s, fmt.Errorf("%s:%d: field %s: %v", source, lineOf(data, te.Offset), te.Field, err)
		}
		return s, fmt.Errorf("%s: %w", source, err)
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("%s: %w", source, err)
	}
	return s, nil
}

// LoadSpec reads and validates a job spec file.
func LoadSpec(path string) (JobSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return JobSpec{}, err
	}
	return ParseSpec(path, data)
}

func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return 1 + strings.Count(string(data[:offset]), "\n")
}
