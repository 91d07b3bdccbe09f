package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func init() {
	Register("enginetest.lostinput", func(ctx context.Context, t *Task) error {
		return fmt.Errorf("reading: %w", LostInput("map", 1, errors.New("block gone")))
	})
}

// mapReduce is a job of two stages: map (maps partitions) feeding reduce.
func mapReduce(maps, reduces, maxAttempts int) JobSpec {
	return JobSpec{Version: 1, Name: "mr", MaxAttempts: maxAttempts, Stages: []StageSpec{
		{Name: "map", Operator: "op", Partitions: maps, Resources: Resources{CPU: 1}},
		{Name: "reduce", Operator: "op", Partitions: reduces, Upstream: []string{"map"}, Resources: Resources{CPU: 1}},
	}}
}

func mrID(stage string, partition, attempt int) AttemptID {
	return AttemptID{Job: "j", Stage: stage, Partition: partition, Attempt: attempt}
}

// recorder keeps every event the harness's commands made.
type recorder struct {
	*harness
	events []Event
}

func (r *recorder) apply(cmd []byte) *Result {
	r.t.Helper()
	res := r.harness.apply(cmd)
	r.events = append(r.events, res.Events...)
	return res
}

func (r *recorder) report(rs ...Report) *Result {
	for i := range rs {
		rs[i].Time = r.now
	}
	return r.apply(Encode(CmdReports, Reports{Reports: rs}))
}

func (r *recorder) schedule() Plan {
	var p Plan
	r.fsm.Read(func(s *State) { p = Schedule(s, r.now, DefaultSchedulerConfig) })
	r.apply(Encode(CmdPlan, p))
	return p
}

func commitOut(id AttemptID, key string) Report {
	return Report{Attempt: id, State: AttemptCommitted, Outputs: []Output{{Name: "o", Key: key}}}
}

func lostReport(id AttemptID, stage string, partition int) Report {
	return Report{Attempt: id, State: AttemptFailed, Error: fmt.Sprintf("map output %s/p%d is lost", stage, partition),
		LostInput: &InputRef{Stage: stage, Partition: partition}}
}

func planned(p Plan) []string {
	var s []string
	for _, a := range p.Assignments {
		s = append(s, fmt.Sprintf("%s/p%d/a%d", a.Attempt.Stage, a.Attempt.Partition, a.Attempt.Attempt))
	}
	return s
}

func TestLostInputReopensOnlyThatUpstreamTask(t *testing.T) {
	h := &recorder{harness: newHarness(t)}
	h.apply(Encode(CmdRegisterExecutor, RegisterExecutor{ID: "x", Resources: Resources{CPU: 4}, Time: h.now}))
	h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "j", Spec: mapReduce(2, 2, 1), Time: h.now}))
	if got := planned(h.schedule()); strings.Join(got, " ") != "map/p0/a1 map/p1/a1" {
		t.Fatalf("first plan %v, want both map tasks", got)
	}
	h.report(commitOut(mrID("map", 0, 1), "m0a1"), commitOut(mrID("map", 1, 1), "m1a1"))
	if got := planned(h.schedule()); strings.Join(got, " ") != "reduce/p0/a1 reduce/p1/a1" {
		t.Fatalf("second plan %v, want both reduce tasks", got)
	}

	// Reduce p0 finds map p1's output gone: map p1 alone is re-opened.
	if r := h.report(lostReport(mrID("reduce", 0, 1), "map", 1)); len(r.Rejected) != 0 {
		t.Fatalf("lost-input report refused: %v", r.Rejected)
	}
	j := h.job("j")
	m0, m1, r0 := j.Task("map", 0), j.Task("map", 1), j.Task("reduce", 0)
	if m1.State != TaskRunning || m1.Committed != 0 || m1.Outputs != nil || m1.Reopened != 1 {
		t.Fatalf("map p1 is %s, committed %d, outputs %v, re-opened %d; want running, none, none, 1", m1.State, m1.Committed, m1.Outputs, m1.Reopened)
	}
	if m1.Attempts[0].State != AttemptCommitted {
		t.Fatalf("map p1 attempt 1 is %s, want it left committed", m1.Attempts[0].State)
	}
	if m0.State != TaskCommitted || m0.Committed != 1 || m0.Reopened != 0 {
		t.Fatalf("map p0 is %s (committed %d, re-opened %d); want untouched", m0.State, m0.Committed, m0.Reopened)
	}
	if st := j.Stage("map"); st.State != TaskRunning || st.Done != 1 || st.First != 1 {
		t.Fatalf("map stage %s, done %d, first %d; want running, 1, 1", st.State, st.Done, st.First)
	}
	if r0.State != TaskRunning || r0.Failures != 0 || r0.Attempts[0].LostInput == nil || *r0.Attempts[0].LostInput != (InputRef{"map", 1}) {
		t.Fatalf("reduce p0 is %s with %d failures, attempt 1 lost input %v; want running, 0, map/p1", r0.State, r0.Failures, r0.Attempts[0].LostInput)
	}

	// Only map p1 runs again; reduce p0 waits for it, even if asked directly.
	if got := planned(h.schedule()); strings.Join(got, " ") != "map/p1/a2" {
		t.Fatalf("plan after the loss %v, want only map/p1/a2", got)
	}
	if r := h.apply(Encode(CmdPlan, Plan{Time: h.now, Assignments: []Assignment{{Attempt: mrID("reduce", 0, 2), Executor: "x"}}})); len(r.Rejected) != 1 {
		t.Fatalf("reduce assigned while its input is re-running: rejected %v", r.Rejected)
	}
	h.report(commitOut(mrID("map", 1, 2), "m1a2"))

	// Reduce p1 read attempt 1's output too, but reports after attempt 2
	// committed: nothing is re-opened again.
	h.report(lostReport(mrID("reduce", 1, 1), "map", 1))
	j = h.job("j")
	if m1 := j.Task("map", 1); m1.State != TaskCommitted || m1.Committed != 2 || m1.Reopened != 1 || j.Stage("map").State != TaskCommitted {
		t.Fatalf("after a stale lost-input report map p1 is %s, committed %d, re-opened %d, stage %s; want committed attempt 2 once re-opened",
			m1.State, m1.Committed, m1.Reopened, j.Stage("map").State)
	}
	if got := planned(h.schedule()); strings.Join(got, " ") != "reduce/p0/a2 reduce/p1/a2" {
		t.Fatalf("plan after map p1 committed again %v, want both reduce tasks", got)
	}
	var spec TaskSpec
	h.fsm.Read(func(s *State) { spec = taskSpec(s.Jobs["j"], mrID("reduce", 0, 2)) })
	if in := spec.Inputs["map"]; len(in) != 2 || in[0][0].Key != "m0a1" || in[1][0].Key != "m1a2" {
		t.Fatalf("reduce p0 attempt 2 reads %v, want m0a1 and the new m1a2", in)
	}
	h.report(commitOut(mrID("reduce", 0, 2), "r0"), commitOut(mrID("reduce", 1, 2), "r1"))
	j = h.job("j")
	if j.State != JobCommitting {
		t.Fatalf("job %s (%s), want committing: lost inputs do not count against max_attempts 1", j.State, j.Error)
	}
	if e := h.executorStatus("x"); e.Used != (Resources{}) || e.Running != 0 {
		t.Fatalf("executor holds %s (%d running) at the end", e.Used, e.Running)
	}

	checkForward(t, h.events)
	replayed, err := ReplayJob(h.events)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"map", "reduce"} {
		for p := 0; p < 2; p++ {
			got, want := replayed.Task(st, p), j.Task(st, p)
			if got.State != want.State || got.Committed != want.Committed || got.Reopened != want.Reopened || got.Failures != want.Failures {
				t.Errorf("replayed %s/p%d: %s committed %d re-opened %d failures %d; the FSM has %s %d %d %d", st, p,
					got.State, got.Committed, got.Reopened, got.Failures, want.State, want.Committed, want.Reopened, want.Failures)
			}
		}
		if replayed.Stage(st).Done != 2 {
			t.Errorf("replayed stage %s done %d, want 2", st, replayed.Stage(st).Done)
		}
	}
}

func TestOutputLostTooOftenFailsTheJob(t *testing.T) {
	h := &recorder{harness: newHarness(t)}
	h.apply(Encode(CmdRegisterExecutor, RegisterExecutor{ID: "x", Resources: Resources{CPU: 2}, Time: h.now}))
	h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "j", Spec: mapReduce(1, 1, 1), Time: h.now}))
	h.schedule()
	h.report(commitOut(mrID("map", 0, 1), "a1"))
	h.schedule()
	h.report(lostReport(mrID("reduce", 0, 1), "map", 0))
	h.schedule()
	h.report(commitOut(mrID("map", 0, 2), "a2"))
	h.schedule()
	h.report(lostReport(mrID("reduce", 0, 2), "map", 0))
	j := h.job("j")
	if j.State != JobFailed || !strings.Contains(j.Error, "output of map/p0 was lost 2 times") {
		t.Fatalf("job %s: %q; want failed, the output lost 2 times", j.State, j.Error)
	}
	if m := j.Task("map", 0); m.State != TaskCommitted || m.Committed != 2 {
		t.Fatalf("map p0 %s committed %d, want still committed attempt 2", m.State, m.Committed)
	}
	checkForward(t, h.events)
}

func TestLostInputOfAnotherStageCountsAsFailure(t *testing.T) {
	h := &recorder{harness: newHarness(t)}
	h.apply(Encode(CmdRegisterExecutor, RegisterExecutor{ID: "x", Resources: Resources{CPU: 2}, Time: h.now}))
	h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "j", Spec: mapReduce(1, 1, 3), Time: h.now}))
	h.schedule()
	h.report(lostReport(mrID("map", 0, 1), "reduce", 0)) // map has no upstream
	m := h.job("j").Task("map", 0)
	if m.Failures != 1 || m.Attempts[0].LostInput != nil || !strings.Contains(m.Attempts[0].Error, "not a partition of an upstream stage of map") {
		t.Fatalf("map p0 failures %d, lost input %v, error %q; want an ordinary failure naming the bad lost input", m.Failures, m.Attempts[0].LostInput, m.Attempts[0].Error)
	}
	if r := h.job("j").Task("reduce", 0); r.State != TaskWaiting || r.Reopened != 0 {
		t.Fatalf("reduce p0 %s, re-opened %d; want untouched", r.State, r.Reopened)
	}
}

func TestCheckForwardAcceptsOnlyMarkedReopen(t *testing.T) {
	ev := func(state string, reopened bool) Event {
		return Event{Job: "j", Kind: KindTask, Stage: "map", State: state, Reopened: reopened}
	}
	for _, tc := range []struct {
		name   string
		events []Event
		ok     bool
	}{
		{"marked reopen of a committed task", []Event{ev("running", false), ev("committed", false), ev("running", true), ev("committed", false)}, true},
		{"unmarked backward move", []Event{ev("running", false), ev("committed", false), ev("running", false)}, false},
		{"reopen of a failed task", []Event{ev("running", false), ev("failed", false), ev("running", true)}, false},
		{"reopen to ready", []Event{ev("committed", false), ev("ready", true)}, false},
		{"reopen of an attempt", []Event{{Job: "j", Kind: KindAttempt, Stage: "map", Attempt: 1, State: "committed"}, {Job: "j", Kind: KindAttempt, Stage: "map", Attempt: 1, State: "running", Reopened: true}}, false},
	} {
		if err := CheckForward(tc.events); (err == nil) != tc.ok {
			t.Errorf("%s: CheckForward = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	for s := TaskWaiting; s <= TaskCancelled; s++ {
		if s.CanReopen() != (s == TaskCommitted) {
			t.Errorf("%s.CanReopen() = %v", s, s.CanReopen())
		}
	}
}

func TestRunAttemptReportsLostInput(t *testing.T) {
	rep := RunAttempt(context.Background(), nil, TaskSpec{Attempt: mrID("reduce", 0, 1), Operator: "enginetest.lostinput", Partitions: 1}, nil)
	if rep.State != AttemptFailed || rep.Fatal || rep.LostInput == nil || *rep.LostInput != (InputRef{"map", 1}) || !strings.Contains(rep.Error, "block gone") {
		t.Fatalf("report %s fatal %v lost input %v error %q; want failed, retryable, map/p1, the cause", rep.State, rep.Fatal, rep.LostInput, rep.Error)
	}
	if in, ok := IsLostInput(Fatal(LostInput("map", 2, nil))); !ok || in.Partition != 2 {
		t.Fatalf("IsLostInput through Fatal = %v, %v", in, ok)
	}
}
