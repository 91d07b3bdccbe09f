package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	_ "github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/store"
)

// long reports whether the long scenarios run (make e2e).
func long() bool { return os.Getenv("CZ_E2E_LONG") != "" }

// TestSlowFirstAttemptCommitsOnce ports Spark's output-commit-coordinator
// reproduction: in each trial one task's first attempt is slow, so a
// speculative copy races it. Every partition must commit exactly one
// attempt, the manifest must name it, the visible output must be that
// attempt's, and the loser's objects must be gone. 100 trials under
// make e2e, 10 in make test.
func TestSlowFirstAttemptCommitsOnce(t *testing.T) {
	trials := 10
	if long() {
		trials = 100
	}
	ctx := context.Background()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := local.Start(b, nil, engine.Resources{CPU: 4, MemoryMB: 1024}, engine.Resources{CPU: 4, MemoryMB: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	speculated := 0
	for trial := range trials {
		spec := engine.JobSpec{
			Version: engine.SpecVersion, Name: fmt.Sprintf("commit-trial-%d", trial), Speculation: true,
			Stages: []engine.StageSpec{{Name: "work", Operator: "test.sleep", Partitions: 4,
				Params: map[string]string{"sleep": "20ms", "straggler": fmt.Sprint(trial % 4), "straggle": "2s"}}},
		}
		j, err := m.Run(ctx, spec)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if j.State != engine.JobSucceeded {
			t.Fatalf("trial %d: job %s: %s", trial, j.State, j.Error)
		}
		outs, err := engine.ReadJobOutputs(ctx, b, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		st := j.Stage("work")
		if len(st.Tasks[trial%4].Attempts) > 1 {
			speculated++
		}
		for _, p := range outs["work"].Partitions {
			task := st.Tasks[p.Partition]
			committed := 0
			for _, a := range task.Attempts {
				if a.State == engine.AttemptCommitted {
					committed++
				}
			}
			if committed != 1 || task.Committed != p.Attempt {
				t.Fatalf("trial %d p%d: %d committed attempts, manifest names %d, task %d", trial, p.Partition, committed, p.Attempt, task.Committed)
			}
			if len(p.Outputs) != 1 {
				t.Fatalf("trial %d p%d: %d visible outputs, want 1", trial, p.Partition, len(p.Outputs))
			}
			data, err := store.ReadAll(ctx, b, p.Outputs[0].Key)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("/work/p%d/a%d", p.Partition, p.Attempt); !strings.HasSuffix(string(data), want) {
				t.Fatalf("trial %d p%d: visible output %q is not the committed attempt's (%s)", trial, p.Partition, data, want)
			}
		}
		list, _ := b.List(ctx, "jobs/"+j.ID+"/", "")
		attempts := 0
		for _, o := range list.Objects {
			if strings.Contains(o.Key, "/attempts/") {
				attempts++
			}
		}
		if attempts != 4 {
			t.Fatalf("trial %d: %d attempt objects remain, want the 4 committed ones", trial, attempts)
		}
	}
	if speculated == 0 {
		t.Fatal("no trial launched a speculative attempt: the test did not race anything")
	}
	t.Logf("%d trials, %d raced a speculative copy, each partition committed once", trials, speculated)
}
