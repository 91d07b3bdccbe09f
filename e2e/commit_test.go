package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	_ "github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/store"
)

// long reports whether the long scenarios run (make e2e).
func long() bool { return os.Getenv("CZ_E2E_LONG") != "" }

// commitTrial is trial n of Spark's output-commit-coordinator
// reproduction: one task's first attempt is slow, so a speculative copy
// races it. With authorize every attempt first asks the commit registry
// (Spark's canCommit): the straggler holds the grant and the copy is
// denied; without, the copy commits first and the straggler is
// cancelled.
func commitTrial(n int, authorize bool) engine.JobSpec {
	return engine.JobSpec{
		Version: engine.SpecVersion, Name: fmt.Sprintf("commit-trial-%d", n), Speculation: true,
		Stages: []engine.StageSpec{{Name: "work", Operator: "test.sleep", Partitions: 4,
			Params: map[string]string{"sleep": "20ms", "straggler": fmt.Sprint(n % 4), "straggle": "2s", "authorize": fmt.Sprint(authorize)}}},
	}
}

// TestSlowFirstAttemptCommitsOnce ports Spark's output-commit-coordinator
// reproduction to the embedded engine: every partition must commit
// exactly one attempt, the manifest must name it, the visible output must
// be that attempt's, and the loser's objects must be gone. 100 trials
// under make e2e, 10 in make test.
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
		j, err := m.Run(ctx, commitTrial(trial, false))
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if checkCommitTrial(t, ctx, b, j, trial) {
			speculated++
		}
	}
	if speculated == 0 {
		t.Fatal("no trial launched a speculative attempt: the test did not race anything")
	}
	t.Logf("%d trials, %d raced a speculative copy, each partition committed once", trials, speculated)
}

// TestSlowFirstAttemptCommitsOnceOnTheSystem runs the trials on the
// system as processes, ten at a time, with every attempt asking the
// commit registry first: the race then crosses gRPC, Raft and two
// executor processes, and the registry's history is checked too. 100 trials under make e2e, 20 in make
// test.
func TestSlowFirstAttemptCommitsOnceOnTheSystem(t *testing.T) {
	trials := 20
	if long() {
		trials = 100
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, s := StartOnDir(t, ctx, ExecutorOptions{ID: "x1", CPUs: 8}, ExecutorOptions{ID: "x2", CPUs: 8})
	const wave = 10
	speculated := 0
	var finished []*engine.Job
	for first := 0; first < trials; first += wave {
		ids := make([]string, wave)
		for i := range wave {
			id, err := s.Client.Submit(ctx, commitTrial(first+i, true), "")
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = id
		}
		for i, id := range ids {
			j := s.Wait(t, ctx, id)
			if checkCommitTrial(t, ctx, b, j, first+i) {
				speculated++
			}
			finished = append(finished, j)
		}
	}
	s.CheckLedger(t, ctx, b, finished)
	if speculated == 0 {
		t.Fatal("no trial launched a speculative attempt: the test did not race anything")
	}
	t.Logf("%d trials, %d raced a speculative copy, each partition committed once", trials, speculated)
}

// checkCommitTrial fails the test unless every partition of trial n's
// finished job committed exactly one attempt, named by the manifest, whose
// output is the one visible, and no other attempt's objects remain. It
// reports whether the straggler was raced by a copy.
func checkCommitTrial(t *testing.T, ctx context.Context, b store.Bucket, j *engine.Job, trial int) bool {
	t.Helper()
	if j.State != engine.JobSucceeded {
		t.Fatalf("trial %d: job %s: %s", trial, j.State, j.Error)
	}
	outs, err := engine.ReadJobOutputs(ctx, b, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.CheckCommittedOnce(1); err != nil {
		t.Fatalf("trial %d: %v", trial, err)
	}
	st := j.Stage("work")
	for _, p := range outs["work"].Partitions {
		if task := st.Tasks[p.Partition]; task.Committed != p.Attempt {
			t.Fatalf("trial %d p%d: the manifest names attempt %d, the task %d", trial, p.Partition, p.Attempt, task.Committed)
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
	return len(st.Tasks[trial%4].Attempts) > 1
}
