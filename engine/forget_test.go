package engine

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestForgetJobsSkipsUnfinishedJobsAndKeepsKeys(t *testing.T) {
	h := newHarness(t)
	h.executor("x", Resources{CPU: 4})
	spec := oneStage(2)
	spec.MaxAttempts = 3
	h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "done", Spec: spec, IdempotencyKey: "k-done", Time: h.now}))
	h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "busy", Spec: spec, IdempotencyKey: "k-busy", Time: h.now}))
	h.apply(Encode(CmdCancelJob, CancelJob{ID: "done", Reason: "test", Time: h.now}))

	r := h.apply(Encode(CmdForgetJobs, ForgetJobs{IDs: []string{"busy", "done", "nope"}, Time: h.now}))
	if !slices.Equal(r.Forgotten, []string{"done"}) {
		t.Fatalf("forgot %v, want [done]", r.Forgotten)
	}
	if len(r.Rejected) != 2 || !strings.Contains(r.Rejected[0], "busy is running, not finished") {
		t.Fatalf("rejected %q, want the running job and the unknown one", r.Rejected)
	}
	if len(r.Events) != 0 {
		t.Fatalf("forgetting made events %v; a job's event log must end with its end", r.Events)
	}
	h.fsm.Read(func(s *State) {
		if s.Jobs["done"] != nil || s.Jobs["busy"] == nil || !slices.Equal(s.JobOrder, []string{"busy"}) {
			t.Fatalf("jobs %v, order %v: want only busy", len(s.Jobs), s.JobOrder)
		}
	})

	// The forgotten job's key still finds it: nothing new is submitted.
	r = h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "again", Spec: spec, IdempotencyKey: "k-done", Time: h.now}))
	h.fsm.Read(func(s *State) {
		if r.JobID != "done" || len(s.Jobs) != 1 {
			t.Fatalf("resubmitting a forgotten job's key gave %q with %d jobs held, want done and no new job", r.JobID, len(s.Jobs))
		}
	})

	// A snapshot carries the kept key and not the forgotten job.
	var snap bytes.Buffer
	if err := h.fsm.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	restored := NewFSM()
	if err := restored.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := restored.Snapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), again.Bytes()) {
		t.Fatalf("snapshot after restore differs:\n%s\n%s", snap.Bytes(), again.Bytes())
	}
	restored.Read(func(s *State) {
		if s.Keys["k-done"] != "done" || !s.ForgottenKeys["k-done"].Equal(h.now) || s.Jobs["done"] != nil {
			t.Fatalf("restored keys %v, forgotten keys %v", s.Keys, s.ForgottenKeys)
		}
	})

	// Past its age the key goes; the running job's key stays.
	h.now = h.now.Add(time.Hour)
	h.apply(Encode(CmdForgetJobs, ForgetJobs{Before: h.now.Add(-time.Minute), Time: h.now}))
	h.fsm.Read(func(s *State) {
		if _, ok := s.Keys["k-done"]; ok || len(s.ForgottenKeys) != 0 || s.Keys["k-busy"] != "busy" {
			t.Fatalf("keys %v, forgotten keys %v: want only k-busy", s.Keys, s.ForgottenKeys)
		}
	})
	r = h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "fresh", Spec: spec, IdempotencyKey: "k-done", Time: h.now}))
	if r.JobID != "fresh" {
		t.Fatalf("an expired key gave job %q, want a new one", r.JobID)
	}
}

func TestRestoreOfASnapshotWithoutForgottenKeys(t *testing.T) {
	f := NewFSM()
	if err := f.Restore(strings.NewReader(`{"index":3,"jobs":{},"job_order":[],"executors":{},"keys":{}}`)); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, fsm: f, idx: 3, now: t0}
	h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "a", Spec: oneStage(1), IdempotencyKey: "k", Time: h.now}))
	h.apply(Encode(CmdCancelJob, CancelJob{ID: "a", Reason: "test", Time: h.now}))
	if r := h.apply(Encode(CmdForgetJobs, ForgetJobs{IDs: []string{"a"}, Time: h.now})); len(r.Forgotten) != 1 {
		t.Fatalf("forgot %v after restoring an old snapshot", r.Forgotten)
	}
}
