package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/executor"
	"github.com/celebrity-zones/cz/store"
)

// TestCommitRegistryModel checks the model on hand-written histories of
// one task: a legal one with a release and a second grant, and illegal
// ones that the check must refuse.
func TestCommitRegistryModel(t *testing.T) {
	const task = "j/s/p0"
	auth := func(a int, call, ret int64, granted bool) porcupine.Operation {
		return porcupine.Operation{ClientId: a, Input: commitInput{Task: task, Kind: opAuthorize, Attempt: a},
			Output: commitOutput{Granted: granted}, Call: call, Return: ret}
	}
	unknown := func(a int, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: a, Input: commitInput{Task: task, Kind: opAuthorize, Attempt: a},
			Output: commitOutput{Unknown: true}, Call: call, Return: ret}
	}
	reg := func(kind commitKind, a int, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: commitInput{Task: task, Kind: kind, Attempt: a}, Call: call, Return: ret}
	}
	cases := []struct {
		name    string
		history []porcupine.Operation
		legal   bool
	}{
		{"a1 granted, a2 denied, a1 lost, a2 granted and commits", []porcupine.Operation{
			auth(1, 0, 10, true), auth(2, 20, 30, false), reg(opRelease, 1, 40, 50),
			auth(2, 60, 70, true), auth(1, 65, 75, false), reg(opCommit, 2, 80, 90), auth(2, 100, 110, true), auth(3, 100, 110, false),
		}, true},
		{"a release whose window overlaps the second grant", []porcupine.Operation{
			auth(1, 0, 10, true), reg(opRelease, 1, 15, 100), auth(2, 20, 30, true),
		}, true},
		{"an unknown call that may have granted a1 explains a2's denial", []porcupine.Operation{
			unknown(1, 0, 1000), auth(2, 20, 30, false), reg(opRelease, 1, 40, 50), auth(2, 60, 70, true),
		}, true},
		{"a commit re-opened, a new attempt commits", []porcupine.Operation{
			auth(1, 0, 10, true), reg(opCommit, 1, 20, 30), reg(opReopen, 1, 40, 50), auth(1, 60, 70, false),
			auth(2, 60, 70, true), reg(opCommit, 2, 80, 90),
		}, true},
		{"two attempts granted at once without a release", []porcupine.Operation{
			auth(1, 0, 10, true), auth(2, 20, 30, true),
		}, false},
		{"two concurrent calls both granted", []porcupine.Operation{
			auth(1, 0, 30, true), auth(2, 10, 40, true),
		}, false},
		{"denied while nobody held the grant", []porcupine.Operation{
			auth(1, 0, 10, false),
		}, false},
		{"a dead attempt granted", []porcupine.Operation{
			reg(opRelease, 1, 0, 10), auth(1, 20, 30, true),
		}, false},
		{"a commit while another attempt holds the grant", []porcupine.Operation{
			auth(1, 0, 10, true), reg(opCommit, 2, 20, 30),
		}, false},
		{"the loser granted after the commit", []porcupine.Operation{
			auth(1, 0, 10, true), reg(opCommit, 1, 20, 30), auth(2, 40, 50, true),
		}, false},
	}
	for _, c := range cases {
		err := checkCommitHistory(c.history)
		switch {
		case c.legal && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case !c.legal && err == nil:
			t.Errorf("%s: accepted as linearizable", c.name)
		case !c.legal && !strings.Contains(err.Error(), task):
			t.Errorf("%s: the error does not name the task: %v", c.name, err)
		}
		if err != nil && !c.legal && !removeVisualization(err) {
			t.Errorf("%s: no visualization written: %v", c.name, err)
		}
	}
}

// TestCommitHistoryFromJobStateAndFiles builds the history from a job's
// final state (its event log is missing, as after a leader lost before
// flushing) and a history file: a lost grant holder, a call that never
// returned, a re-opened commit. It is linearizable; moving the second
// attempt's grant before the first one's loss makes it illegal.
func TestCommitHistoryFromJobStateAndFiles(t *testing.T) {
	ctx := context.Background()
	work, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	at := func(num int, s engine.AttemptState, finished int) *engine.Attempt {
		return &engine.Attempt{Num: num, State: s, Finished: ms(finished)}
	}
	j := &engine.Job{ID: "j", State: engine.JobSucceeded, Stages: []*engine.Stage{{Name: "s", Tasks: []*engine.TaskStatus{
		// p0: a1 granted, then lost; a2 denied meanwhile, granted after, commits.
		{Partition: 0, Committed: 2, Attempts: []*engine.Attempt{at(1, engine.AttemptLost, 1000), at(2, engine.AttemptCommitted, 1500)}},
		// p1: a1 commits, its output is lost (re-opened), a2 granted and commits.
		{Partition: 1, Committed: 2, Attempts: []*engine.Attempt{at(1, engine.AttemptCommitted, 100), at(2, engine.AttemptCommitted, 15000)}},
	}}}}
	id := func(p, a int) engine.AttemptID {
		return engine.AttemptID{Job: "j", Stage: "s", Partition: p, Attempt: a}
	}
	call := func(seq uint64, a engine.AttemptID, from, to int, granted bool) executor.CommitCall {
		return executor.CommitCall{Executor: "x1", PID: 1, Seq: seq, Attempt: a, Call: ms(from).UnixNano(), Return: ms(to).UnixNano(), Done: true, Granted: granted}
	}
	write := func(calls ...executor.CommitCall) string {
		var lines []byte
		for _, c := range calls {
			line, _ := json.Marshal(c)
			lines = append(append(lines, line...), '\n')
		}
		f := filepath.Join(t.TempDir(), "commits.jsonl")
		if err := os.WriteFile(f, lines, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	pending := executor.CommitCall{Executor: "x1", PID: 1, Seq: 9, Attempt: id(0, 1), Call: ms(800).UnixNano()}
	other := executor.CommitCall{Executor: "x1", PID: 1, Seq: 10, Attempt: engine.AttemptID{Job: "other", Stage: "s", Attempt: 1},
		Call: ms(10).UnixNano(), Return: ms(11).UnixNano(), Done: true, Granted: false}
	legal := write(call(1, id(0, 1), 0, 1, true), call(2, id(0, 2), 500, 501, false), pending, call(3, id(0, 2), 1200, 1201, true),
		call(4, id(1, 1), 0, 1, true), call(5, id(1, 2), 12000, 12001, true), other)
	if err := CheckCommits(ctx, work, []*engine.Job{j}, []string{legal}); err != nil {
		t.Fatal(err)
	}
	illegal := write(call(1, id(0, 1), 0, 1, true), call(2, id(0, 2), 500, 501, true), call(4, id(1, 1), 0, 1, true))
	err = CheckCommits(ctx, work, []*engine.Job{j}, []string{illegal})
	if err == nil || !strings.Contains(err.Error(), "j/s/p0") || strings.Contains(err.Error(), "j/s/p1") {
		t.Fatalf("a2 granted while a1 held the grant: %v; want an error naming j/s/p0 only", err)
	}
	removeVisualization(err)
}

// TestCommitHistoryOfRealExecutorsIsLinearizable runs a job whose tasks
// ask for the commit grant on the system as processes. One task's first
// attempt takes the grant and straggles; its speculative copy is denied;
// then the straggler's executor is killed, the leader writes the attempt
// off (releasing the grant) and a third attempt is granted and commits.
// The executors record their AuthorizeCommit calls; with the registry's
// own changes from the event log the history is linearizable, and the
// same history with the copy's denial turned into a grant is not.
func TestCommitHistoryOfRealExecutorsIsLinearizable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	work, err := store.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	hist := t.TempDir()
	var files []string
	var xs []ExecutorOptions
	for _, id := range []string{"x1", "x2"} {
		f := filepath.Join(hist, id+".jsonl")
		files = append(files, f)
		xs = append(xs, ExecutorOptions{ID: id, Env: []string{"CZ_COMMIT_HISTORY=" + f}})
	}
	s := StartSystem(t, ctx, SystemOptions{Store: dir, Executors: xs})
	spec := engine.JobSpec{Version: engine.SpecVersion, Name: "authorized", Speculation: true, Stages: []engine.StageSpec{
		{Name: "work", Operator: "test.sleep", Partitions: 8,
			Params: map[string]string{"sleep": "100ms", "straggler": "2", "straggle": "30s", "authorize": "true"}}}}
	id, err := s.Client.Submit(ctx, spec, "authorized")
	if err != nil {
		t.Fatal(err)
	}
	readCalls := func() []executor.CommitCall {
		var calls []executor.CommitCall
		for _, f := range files {
			c, err := executor.ReadCommitHistory(f)
			if err != nil {
				t.Fatal(err)
			}
			calls = append(calls, c...)
		}
		return calls
	}
	// Wait for the copy's denial; then kill the executor of the grant holder.
	holder, denied := "", engine.AttemptID{}
	for denied.Job == "" {
		for _, c := range readCalls() {
			if c.Attempt.Partition != 2 || !c.Done || c.Error != "" {
				continue
			}
			if c.Attempt.Attempt == 1 && c.Granted {
				holder = c.Executor
			}
			if c.Attempt.Attempt > 1 && !c.Granted {
				denied = c.Attempt
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("the straggler's copy was never denied the grant: %+v", readCalls())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if holder == "" {
		t.Fatalf("%s was denied, but the straggler was never granted: %+v", denied, readCalls())
	}
	for _, p := range s.Executors {
		if p.Name == holder {
			p.Kill()
		}
	}
	j, err := s.Client.Wait(ctx, id, nil)
	if err != nil || j.State != engine.JobSucceeded {
		t.Fatalf("job: %v %v", err, j)
	}
	p2 := j.Stage("work").Tasks[2]
	if p2.Attempts[0].State != engine.AttemptLost || p2.Committed <= denied.Attempt {
		t.Fatalf("straggler %s, committed attempt %d; want the straggler lost and an attempt after the denied copy (a%d) committed",
			p2.Attempts[0].State, p2.Committed, denied.Attempt)
	}
	calls := readCalls()
	granted := map[int]bool{}
	for _, c := range calls {
		if c.Granted {
			granted[c.Attempt.Partition] = true
		}
	}
	if len(granted) != 8 {
		t.Fatalf("%d tasks were granted the commit, want 8: %+v", len(granted), calls)
	}
	if err := CheckCommits(ctx, work, []*engine.Job{j}, files); err != nil {
		t.Fatal(err)
	}
	history, _ := commitHistory(ctx, work, []*engine.Job{j}, files)
	t.Logf("%d executor calls and %d registry operations are linearizable", len(calls), len(history)-len(calls))

	// The same history, but the registry granted the copy too: refused.
	forged := filepath.Join(hist, "forged.jsonl")
	var lines []byte
	for _, c := range calls {
		c.Granted = c.Granted || c.Attempt == denied
		line, _ := json.Marshal(c)
		lines = append(append(lines, line...), '\n')
	}
	if err := os.WriteFile(forged, lines, 0o644); err != nil {
		t.Fatal(err)
	}
	err = CheckCommits(ctx, work, []*engine.Job{j}, []string{forged})
	if want := fmt.Sprintf("%s/work/p2", j.ID); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a history where two attempts of %s held the grant at once: %v; want an error naming it", want, err)
	}
	t.Logf("forged history refused: %v", err)
	removeVisualization(err)
}

// removeVisualization deletes the file a CheckCommits error names.
func removeVisualization(err error) bool {
	const mark = "visualization: "
	if i := strings.Index(err.Error(), mark); i >= 0 {
		return os.Remove(err.Error()[i+len(mark):]) == nil
	}
	return false
}
