package engine

import (
	"bytes"
	"context"
	"testing"

	"github.com/celebrity-zones/cz/store"
)

// TestReadEventLogMergesOverlappingChunks: a job's log written by two
// leaders, where the first died before writing indexes 4 and 5 and new
// leaders re-wrote their recent events in overlapping tail chunks, reads
// back as every event once, in index order, and replays to the job.
func TestReadEventLogMergesOverlappingChunks(t *testing.T) {
	h := newHarness(t)
	byIndex := map[uint64][]Event{}
	var all []Event
	do := func(r *Result) {
		byIndex[r.Index] = r.Events
		all = append(all, r.Events...)
	}
	h.executor("x", Resources{CPU: 2}) // 1
	spec := oneStage(2)
	spec.MaxAttempts = 3
	do(h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "j", Spec: spec, Time: h.now}))) // 2
	_, r := h.schedule()                                                           // 3: two attempts assigned
	do(r)
	do(h.report(Report{Attempt: aid("j", 0, 1), State: AttemptRunning}, Report{Attempt: aid("j", 1, 1), State: AttemptRunning})) // 4
	do(h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted}))                                                       // 5
	do(h.report(Report{Attempt: aid("j", 1, 1), State: AttemptCommitted}))                                                       // 6
	do(h.apply(Encode(CmdJobManifest, JobManifest{ID: "j", Time: h.now})))                                                       // 7
	for i := uint64(2); i <= 7; i++ {
		if len(byIndex[i]) == 0 {
			t.Fatalf("index %d made no events", i)
		}
	}
	if len(byIndex[3]) < 2 || len(byIndex[4]) < 2 {
		t.Fatal("the test wants several events under one index")
	}
	span := func(from, to uint64) []Event {
		var out []Event
		for i := from; i <= to; i++ {
			out = append(out, byIndex[i]...)
		}
		return out
	}

	ctx := context.Background()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, evs []Event) {
		if err := store.PutBytes(ctx, b, key, encodeEvents(evs)); err != nil {
			t.Fatal(err)
		}
	}
	// The first leader wrote 2-3 and died with 4-5 unwritten; the second
	// wrote 6-7 from its engine.
	put(eventChunkKey("j", 2), span(2, 3))
	put(eventChunkKey("j", 6), span(6, 7))
	gap, err := ReadEventLog(ctx, b, "j")
	if err != nil {
		t.Fatal(err)
	}
	if len(gap) != len(span(2, 3))+len(span(6, 7)) {
		t.Fatalf("engine chunks alone: %d events", len(gap))
	}
	// Tail chunks of new leaders: the second leader's ring had lost index
	// 2, a third leader's reaches back to 4 and on to 7; an unrelated job's
	// events travel in the same call.
	other := Event{Index: 4, Time: h.now, Job: "k", Kind: KindJob, State: "running", Spec: &JobSpec{Version: 1, Name: "k"}}
	tail := append(span(3, 3), byIndex[4]...)
	tail = append(tail, other)
	tail = append(tail, byIndex[5]...)
	if err := WriteEventTail(ctx, b, tail); err != nil {
		t.Fatal(err)
	}
	if err := WriteEventTail(ctx, b, span(4, 7)); err != nil {
		t.Fatal(err)
	}
	list, err := b.List(ctx, EventLogPrefix("j"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Objects) != 4 {
		t.Fatalf("%d chunks, want 4", len(list.Objects))
	}

	got, err := ReadEventLog(ctx, b, "j")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeEvents(got), encodeEvents(all)) {
		t.Fatalf("merged log:\n%s\nwant:\n%s", encodeEvents(got), encodeEvents(all))
	}
	checkForward(t, got)
	j, err := ReplayJob(got)
	if err != nil {
		t.Fatal(err)
	}
	want := h.job("j")
	if j.State != want.State || j.State != JobSucceeded || j.ModifyIndex != want.ModifyIndex {
		t.Fatalf("replayed job %s at %d, want %s at %d", j.State, j.ModifyIndex, want.State, want.ModifyIndex)
	}
	for p := 0; p < 2; p++ {
		gt, wt := j.Task("s", p), want.Task("s", p)
		if gt.State != wt.State || len(gt.Attempts) != len(wt.Attempts) || gt.Attempts[0].State != wt.Attempts[0].State || gt.CommitIndex != wt.CommitIndex {
			t.Fatalf("task p%d: replayed %s with %d attempts, want %s with %d", p, gt.State, len(gt.Attempts), wt.State, len(wt.Attempts))
		}
	}
	k, err := ReadEventLog(ctx, b, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(k) != 1 || k[0].Job != "k" {
		t.Fatalf("job k's log: %+v", k)
	}
}
