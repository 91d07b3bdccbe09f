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
		if err != nil && !c.legal {
			if i := strings.Index(err.Error(), "visualization: "); i >= 0 {
				os.Remove(err.Error()[i+len("visualization: "):])
			} else {
				t.Errorf("%s: no visualization: %v", c.name, err)
			}
		}
	}
}

// TestCommitHistoryOfRealExecutorsIsLinearizable runs a job whose tasks
// ask for the commit grant on the system as processes: one task's first
// attempt takes the grant and straggles, its speculative copy is denied.
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
			Params: map[string]string{"sleep": "100ms", "straggler": "2", "straggle": "3s", "authorize": "true"}}}}
	id, err := s.Client.Submit(ctx, spec, "authorized")
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.Client.Wait(ctx, id, nil)
	if err != nil || j.State != engine.JobSucceeded {
		t.Fatalf("job: %v %v", err, j)
	}
	// The history is not trivial: every task asked, and the copy of the
	// straggler was denied.
	var calls []executor.CommitCall
	for _, f := range files {
		c, err := executor.ReadCommitHistory(f)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c...)
	}
	granted := map[int]bool{}
	denied := -1
	for i, c := range calls {
		if c.Granted {
			granted[c.Attempt.Partition] = true
		}
		if c.Attempt.Partition == 2 && c.Attempt.Attempt > 1 && c.Done && c.Error == "" && !c.Granted {
			denied = i
		}
	}
	if len(granted) != 8 || denied < 0 {
		t.Fatalf("%d tasks granted, straggler's copy denied: %v; want 8 and a denial (calls %+v)", len(granted), denied >= 0, calls)
	}
	if err := CheckCommits(ctx, work, []*engine.Job{j}, files); err != nil {
		t.Fatal(err)
	}
	history, _ := commitHistory(ctx, work, []*engine.Job{j}, files)
	t.Logf("%d executor calls and %d registry operations are linearizable", len(calls), len(history)-len(calls))

	// The same history, but the registry granted the copy too: refused.
	forged := filepath.Join(hist, "forged.jsonl")
	var lines []byte
	for i, c := range calls {
		c.Granted = c.Granted || i == denied
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
}
