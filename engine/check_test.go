package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestCheckCommittedOnce(t *testing.T) {
	at := func(n int, s AttemptState) *Attempt { return &Attempt{Num: n, State: s} }
	out := []Output{{Name: "x", Key: "k"}}
	for _, c := range []struct {
		name string
		task TaskStatus
		want string // "" for no error
	}{
		{"one commit", TaskStatus{Committed: 2, Outputs: out, Attempts: []*Attempt{at(1, AttemptCancelled), at(2, AttemptCommitted)}}, ""},
		{"re-opened once", TaskStatus{Committed: 2, Reopened: 1, Outputs: out, Attempts: []*Attempt{at(1, AttemptCommitted), at(2, AttemptCommitted)}}, ""},
		{"two commits", TaskStatus{Committed: 2, Outputs: out, Attempts: []*Attempt{at(1, AttemptCommitted), at(2, AttemptCommitted)}}, "2 committed attempts"},
		{"names a cancelled attempt", TaskStatus{Committed: 1, Outputs: out, Attempts: []*Attempt{at(1, AttemptCancelled), at(2, AttemptCommitted)}}, "names attempt 1"},
		{"no commit", TaskStatus{Attempts: []*Attempt{at(1, AttemptFailed)}}, "0 committed"},
		{"no output", TaskStatus{Committed: 1, Attempts: []*Attempt{at(1, AttemptCommitted)}}, "0 outputs, want 1"},
	} {
		task := c.task
		j := &Job{ID: "j", Stages: []*Stage{{Name: "s", Tasks: []*TaskStatus{&task}}}}
		err := j.CheckCommittedOnce(1)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestProblemsAreBoundedAndReported(t *testing.T) {
	task := &Task{}
	for i := range MaxProblems + 10 {
		task.Problem("row %d: bad", i)
	}
	if n := len(task.problems); n != MaxProblems+1 {
		t.Fatalf("%d problems kept, want %d and a last line", n, MaxProblems+1)
	}
	if got := task.problems[0]; got != "row 0: bad" {
		t.Errorf("first problem %q", got)
	}
	if got := task.counters["input_problems"]; got != MaxProblems+10 {
		t.Errorf("input_problems counter %d, want %d", got, MaxProblems+10)
	}
	Register("test.problem", func(ctx context.Context, t *Task) error {
		t.Problem("file %s line 3: views: expected a number", t.Param("file"))
		return nil
	})
	rep := RunAttempt(context.Background(), nil, TaskSpec{Operator: "test.problem", Params: map[string]string{"file": "a.parquet"}}, nil)
	if rep.State != AttemptCommitted || len(rep.Problems) != 1 || rep.Problems[0] != fmt.Sprintf("file %s line 3: views: expected a number", "a.parquet") {
		t.Fatalf("report %s %v, want the problem carried", rep.State, rep.Problems)
	}
}
