package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/store"
)

// smallJob sums 0..19 over four partitions: its "sum" output is 190.
func smallJob(i int) engine.JobSpec {
	return engine.JobSpec{Version: engine.SpecVersion, Name: fmt.Sprintf("small-%d", i), Stages: []engine.StageSpec{
		{Name: "numbers", Operator: "test.numbers", Partitions: 4, Params: map[string]string{"n": "5"}},
		{Name: "sum", Operator: "test.sum", Partitions: 1, Upstream: []string{"numbers"}, Params: map[string]string{"from": "numbers"}},
	}}
}

// held splits the jobs the state machine holds into finished and not.
func held(eng *engine.Engine) (finished, running []string) {
	for _, j := range eng.Jobs() {
		if j.State.Terminal() {
			finished = append(finished, j.ID)
		} else {
			running = append(running, j.ID)
		}
	}
	return finished, running
}

func jobsHeldMetric(t *testing.T, eng *engine.Engine) float64 {
	t.Helper()
	mfs, err := eng.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "cz_engine_jobs_held" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no cz_engine_jobs_held metric")
	return 0
}

func TestRetentionKeepsTheNewestFinishedJobsAndServesTheRestFromTheStore(t *testing.T) {
	r := newRigConfig(t, engine.Config{Retention: engine.Retention{MaxJobs: 5, Every: -1}}, engine.Resources{CPU: 4, MemoryMB: 512})
	ctx := context.Background()
	gate := "retention-" + t.Name()
	busy, err := r.eng.Submit(engine.JobSpec{Version: 1, Name: "held", Stages: []engine.StageSpec{
		{Name: "g", Operator: "test.gate", Partitions: 1, Params: map[string]string{"gate": gate}}}}, "key-held")
	if err != nil {
		t.Fatal(err)
	}
	var done []*engine.Job
	for i := range 12 {
		id, err := r.eng.Submit(smallJob(i), fmt.Sprintf("key-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, r.wait(id))
	}

	n, err := r.eng.ForgetFinished(ctx)
	if err != nil || n != 7 {
		t.Fatalf("ForgetFinished = %d, %v; want 7 of 12 finished jobs forgotten", n, err)
	}
	finished, running := held(r.eng)
	want := []string{done[7].ID, done[8].ID, done[9].ID, done[10].ID, done[11].ID}
	if !reflect.DeepEqual(finished, want) || !reflect.DeepEqual(running, []string{busy}) {
		t.Fatalf("held finished %v and running %v; want the newest five %v and the running %s", finished, running, want, busy)
	}
	if got := jobsHeldMetric(t, r.eng); got != 6 {
		t.Fatalf("cz_engine_jobs_held = %v, want 6", got)
	}
	if n, err := r.eng.ForgetFinished(ctx); err != nil || n != 0 {
		t.Fatalf("a second sweep forgot %d (%v), want none", n, err)
	}

	// A forgotten job reads back from the store with its stages and
	// committed outputs: from its archived record, and from its event log
	// alone when the record is gone.
	first := done[0]
	if r.eng.Job(first.ID) != nil {
		t.Fatalf("job %s is still in the state", first.ID)
	}
	for _, from := range []string{"archived record", "event log"} {
		got, err := r.eng.Lookup(ctx, first.ID)
		if err != nil {
			t.Fatalf("%s: %v", from, err)
		}
		if got.State != engine.JobSucceeded || len(got.Stages) != 2 {
			t.Fatalf("%s: job %s with %d stages, want succeeded with 2", from, got.State, len(got.Stages))
		}
		for _, st := range first.Stages {
			for p, task := range st.Tasks {
				if g := got.Task(st.Name, p); g == nil || g.State != engine.TaskCommitted || !reflect.DeepEqual(g.Outputs, task.Outputs) {
					t.Fatalf("%s: task %s/p%d reads back as %+v, want committed with %v", from, st.Name, p, g, task.Outputs)
				}
			}
		}
		data, err := store.ReadAll(ctx, r.bucket, got.Task("sum", 0).Outputs[0].Key)
		if err != nil || strings.TrimSpace(string(data)) != "190" {
			t.Fatalf("%s: sum output %q (%v), want 190", from, data, err)
		}
		if err := r.bucket.Delete(ctx, engine.RecordKey(first.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.eng.Lookup(ctx, "never-was"); !errors.Is(err, engine.ErrNoJob) {
		t.Fatalf("unknown job: %v, want ErrNoJob", err)
	}

	// Retrying a forgotten job's submission finds it and starts nothing.
	again, err := r.eng.Submit(smallJob(0), "key-0")
	if err != nil || again != first.ID {
		t.Fatalf("resubmit with a forgotten job's key: %q, %v; want %s", again, err, first.ID)
	}
	if j := r.wait(again); j.State != engine.JobSucceeded {
		t.Fatalf("waiting on the forgotten job: %s", j.State)
	}
	if f, run := held(r.eng); len(f) != 5 || len(run) != 1 {
		t.Fatalf("after the resubmit the state holds %d finished and %d running jobs, want 5 and 1", len(f), len(run))
	}

	// A snapshot restores to the same state.
	var snap, again2 bytes.Buffer
	if err := r.eng.FSM().Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	restored := engine.NewFSM()
	if err := restored.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := restored.Snapshot(&again2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), again2.Bytes()) {
		t.Fatal("the restored state snapshots differently")
	}
	restored.Read(func(s *engine.State) {
		if len(s.Jobs) != 6 || s.Keys["key-0"] != first.ID || s.ForgottenKeys["key-0"].IsZero() || s.Keys["key-held"] != busy {
			t.Fatalf("restored: %d jobs, keys %v, forgotten keys %v", len(s.Jobs), s.Keys, s.ForgottenKeys)
		}
	})

	// The running job, once finished, is the newest: the oldest kept goes.
	testops.Open(gate)
	r.wait(busy)
	if n, err := r.eng.ForgetFinished(ctx); err != nil || n != 1 {
		t.Fatalf("ForgetFinished = %d, %v; want the 6th finished job forgotten", n, err)
	}
	if r.eng.Job(done[7].ID) != nil || r.eng.Job(busy) == nil {
		t.Fatalf("want %s forgotten and %s kept", done[7].ID, busy)
	}
}

func TestTheRunningEngineForgetsJobsPastMaxAge(t *testing.T) {
	r := newRigConfig(t, engine.Config{Retention: engine.Retention{MaxAge: time.Millisecond, Every: 20 * time.Millisecond}},
		engine.Resources{CPU: 4, MemoryMB: 512})
	id, err := r.eng.Submit(smallJob(0), "key-aged")
	if err != nil {
		t.Fatal(err)
	}
	r.wait(id)
	deadline := time.Now().Add(10 * time.Second)
	for len(r.eng.Jobs()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(r.eng.Jobs()); n != 0 {
		t.Fatalf("the sweeper left %d jobs past their age", n)
	}
	// The key lives as long as MaxAge after its job is forgotten: here
	// a millisecond, so a later sweep drops it too.
	for time.Now().Before(deadline) {
		var keys int
		r.eng.FSM().Read(func(s *engine.State) { keys = len(s.Keys) + len(s.ForgottenKeys) })
		if keys == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.eng.FSM().Read(func(s *engine.State) {
		if len(s.Keys) != 0 {
			t.Fatalf("keys %v outlived MaxAge", s.Keys)
		}
	})
	if j, err := r.eng.Lookup(context.Background(), id); err != nil || j.State != engine.JobSucceeded {
		t.Fatalf("forgotten job reads back as %v, %v", j, err)
	}
}
