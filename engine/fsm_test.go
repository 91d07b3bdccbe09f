package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// harness drives an FSM directly, numbering commands like a log.
type harness struct {
	t   testing.TB
	fsm *FSM
	idx uint64
	now time.Time
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, fsm: NewFSM(), now: t0}
}

func (h *harness) apply(cmd []byte) *Result {
	h.t.Helper()
	h.idx++
	r := h.fsm.Apply(h.idx, cmd)
	if r.Err != nil {
		h.t.Fatalf("apply at %d: %v", h.idx, r.Err)
	}
	return r
}

func (h *harness) executor(id string, res Resources, holds ...string) {
	h.apply(Encode(CmdRegisterExecutor, RegisterExecutor{ID: id, Resources: res, Holds: holds, Time: h.now}))
}

func (h *harness) submit(id string, spec JobSpec) {
	if spec.MaxAttempts == 0 {
		spec.MaxAttempts = 3
	}
	h.apply(Encode(CmdSubmitJob, SubmitJob{ID: id, Spec: spec, Time: h.now}))
}

func (h *harness) assign(id AttemptID, ex string, spec bool) *Result {
	return h.apply(Encode(CmdPlan, Plan{Time: h.now, Assignments: []Assignment{{Attempt: id, Executor: ex, Speculative: spec}}}))
}

func (h *harness) report(rs ...Report) *Result {
	for i := range rs {
		if rs[i].Time.IsZero() {
			rs[i].Time = h.now
		}
	}
	return h.apply(Encode(CmdReports, Reports{Reports: rs}))
}

func (h *harness) authorize(id AttemptID) bool {
	return h.apply(Encode(CmdAuthorizeCommit, AuthorizeCommit{Attempt: id})).Granted
}

// schedule runs the scheduler and applies its plan, like the engine.
func (h *harness) schedule() (Plan, *Result) {
	var p Plan
	h.fsm.Read(func(s *State) { p = Schedule(s, h.now, DefaultSchedulerConfig) })
	return p, h.apply(Encode(CmdPlan, p))
}

func (h *harness) job(id string) *Job {
	var j *Job
	h.fsm.Read(func(s *State) { j = clone(s.Jobs[id]) })
	return j
}

func (h *harness) executorStatus(id string) ExecutorStatus {
	var e ExecutorStatus
	h.fsm.Read(func(s *State) { e = *s.Executors[id] })
	return e
}

func oneStage(partitions int) JobSpec {
	return JobSpec{Version: 1, Name: "one", Stages: []StageSpec{{Name: "s", Operator: "op", Partitions: partitions, Resources: Resources{CPU: 1}}}}
}

func aid(job string, partition, attempt int) AttemptID {
	return AttemptID{Job: job, Stage: "s", Partition: partition, Attempt: attempt}
}

func TestStatesOnlyMoveForward(t *testing.T) {
	for from := AttemptAssigned; from <= AttemptCancelled; from++ {
		for to := AttemptAssigned; to <= AttemptCancelled; to++ {
			want := to > from && from < AttemptCommitted
			if got := from.CanMove(to); got != want {
				t.Errorf("attempt %s -> %s: CanMove = %v, want %v", from, to, got, want)
			}
		}
	}
	for from := TaskWaiting; from <= TaskCancelled; from++ {
		for to := TaskWaiting; to <= TaskCancelled; to++ {
			want := to > from && from < TaskCommitted
			if got := from.CanMove(to); got != want {
				t.Errorf("task %s -> %s: CanMove = %v, want %v", from, to, got, want)
			}
		}
	}
	for from := JobRunning; from <= JobCancelled; from++ {
		for to := JobRunning; to <= JobCancelled; to++ {
			want := to > from && from < JobSucceeded
			if got := from.CanMove(to); got != want {
				t.Errorf("job %s -> %s: CanMove = %v, want %v", from, to, got, want)
			}
		}
	}
}

func checkForward(t *testing.T, events []Event) {
	t.Helper()
	if err := CheckForward(events); err != nil {
		t.Fatal(err)
	}
}

func TestCommitRegistry(t *testing.T) {
	t.Run("commits once and repeats are idempotent", func(t *testing.T) {
		h := newHarness(t)
		h.executor("x", Resources{CPU: 2})
		h.submit("j", oneStage(1))
		h.assign(aid("j", 0, 1), "x", false)
		out := []Output{{Name: "o", Key: "k1"}}
		if r := h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted, Outputs: out}); len(r.Rejected) != 0 {
			t.Fatalf("first commit refused: %v", r.Rejected)
		}
		r := h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted, Outputs: out})
		if len(r.Rejected) != 0 || len(r.Events) != 0 {
			t.Fatalf("repeated commit: rejected %v, events %v; want neither", r.Rejected, r.Events)
		}
		task := h.job("j").Task("s", 0)
		if task.Committed != 1 || task.Outputs[0].Key != "k1" {
			t.Fatalf("task committed attempt %d outputs %v, want attempt 1 with k1", task.Committed, task.Outputs)
		}
		if h.job("j").State != JobCommitting {
			t.Fatalf("job is %s, want committing", h.job("j").State)
		}
	})
	t.Run("speculative loser is refused and cancelled", func(t *testing.T) {
		h := newHarness(t)
		h.executor("x", Resources{CPU: 1})
		h.executor("y", Resources{CPU: 1})
		spec := oneStage(1)
		spec.Speculation = true
		h.submit("j", spec)
		h.assign(aid("j", 0, 1), "x", false)
		h.report(Report{Attempt: aid("j", 0, 1), State: AttemptRunning})
		if r := h.assign(aid("j", 0, 2), "y", true); len(r.Rejected) != 0 {
			t.Fatalf("speculative copy refused: %v", r.Rejected)
		}
		h.report(Report{Attempt: aid("j", 0, 2), State: AttemptCommitted, Outputs: []Output{{Key: "k2"}}})
		r := h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted, Outputs: []Output{{Key: "k1"}}})
		if len(r.Rejected) != 1 {
			t.Fatalf("late commit of attempt 1: rejected %v, want one refusal", r.Rejected)
		}
		task := h.job("j").Task("s", 0)
		if task.Committed != 2 || task.Outputs[0].Key != "k2" || task.Attempts[0].State != AttemptCancelled {
			t.Fatalf("committed %d outputs %v attempt1 %s; want 2, k2, cancelled", task.Committed, task.Outputs, task.Attempts[0].State)
		}
		for _, ex := range []string{"x", "y"} {
			if e := h.executorStatus(ex); e.Used != (Resources{}) || e.Running != 0 {
				t.Errorf("executor %s still holds %s (%d running), want nothing", ex, e.Used, e.Running)
			}
		}
	})
	t.Run("superseded attempt of a lost executor is refused", func(t *testing.T) {
		h := newHarness(t)
		h.executor("x", Resources{CPU: 1})
		h.executor("y", Resources{CPU: 1})
		h.submit("j", oneStage(1))
		h.assign(aid("j", 0, 1), "x", false)
		h.apply(Encode(CmdExecutorLost, ExecutorLost{ID: "x", Time: h.now}))
		plan, _ := h.schedule()
		if len(plan.Assignments) != 1 || plan.Assignments[0].Executor != "y" || plan.Assignments[0].Attempt.Attempt != 2 {
			t.Fatalf("plan after loss = %+v, want attempt 2 on y", plan.Assignments)
		}
		if r := h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted}); len(r.Rejected) != 1 {
			t.Fatalf("commit from the lost attempt: rejected %v, want one refusal", r.Rejected)
		}
		h.report(Report{Attempt: aid("j", 0, 2), State: AttemptCommitted, Outputs: []Output{{Key: "k2"}}})
		if c := h.job("j").Task("s", 0).Committed; c != 2 {
			t.Fatalf("committed attempt %d, want 2", c)
		}
		if f := h.job("j").Task("s", 0).Failures; f != 0 {
			t.Fatalf("a lost attempt counted as %d failures, want 0", f)
		}
	})
	t.Run("grant passes on when its holder dies before reporting (SPARK-39195)", func(t *testing.T) {
		h := newHarness(t)
		h.executor("x", Resources{CPU: 1})
		h.executor("y", Resources{CPU: 1})
		spec := oneStage(1)
		spec.Speculation = true
		h.submit("j", spec)
		h.assign(aid("j", 0, 1), "x", false)
		h.report(Report{Attempt: aid("j", 0, 1), State: AttemptRunning})
		h.assign(aid("j", 0, 2), "y", true)
		if !h.authorize(aid("j", 0, 1)) {
			t.Fatal("attempt 1 was refused the grant while nobody held it")
		}
		if !h.authorize(aid("j", 0, 1)) {
			t.Fatal("asking again for a held grant was refused, want idempotent yes")
		}
		if h.authorize(aid("j", 0, 2)) {
			t.Fatal("attempt 2 got the grant while attempt 1 holds it")
		}
		h.apply(Encode(CmdExecutorLost, ExecutorLost{ID: "x", Time: h.now}))
		if !h.authorize(aid("j", 0, 2)) {
			t.Fatal("attempt 2 was refused the grant after its holder died: the task could never commit")
		}
		h.report(Report{Attempt: aid("j", 0, 2), State: AttemptCommitted})
		if j := h.job("j"); j.Task("s", 0).Committed != 2 || j.State != JobCommitting {
			t.Fatalf("committed %d, job %s; want 2, committing", j.Task("s", 0).Committed, j.State)
		}
		if h.authorize(aid("j", 0, 1)) {
			t.Fatal("dead attempt 1 granted after attempt 2 committed")
		}
	})
}

func TestRetriesUntilLimitThenFails(t *testing.T) {
	h := newHarness(t)
	h.executor("x", Resources{CPU: 1})
	spec := oneStage(1)
	spec.MaxAttempts = 2
	h.submit("j", spec)
	for a := 1; a <= 2; a++ {
		plan, _ := h.schedule()
		if len(plan.Assignments) != 1 || plan.Assignments[0].Attempt.Attempt != a {
			t.Fatalf("round %d: plan %+v, want attempt %d", a, plan.Assignments, a)
		}
		h.report(Report{Attempt: aid("j", 0, a), State: AttemptFailed, Error: "boom"})
	}
	j := h.job("j")
	if j.State != JobFailed || j.Task("s", 0).State != TaskFailed || !strings.Contains(j.Error, "failed 2 times") {
		t.Fatalf("job %s task %s error %q; want failed after 2 attempts", j.State, j.Task("s", 0).State, j.Error)
	}
	if plan, _ := h.schedule(); len(plan.Assignments) != 0 {
		t.Fatalf("failed job still scheduled: %+v", plan.Assignments)
	}
}

func TestFatalErrorIsNotRetried(t *testing.T) {
	h := newHarness(t)
	h.executor("x", Resources{CPU: 2})
	h.submit("j", oneStage(2))
	h.schedule()
	h.report(Report{Attempt: aid("j", 0, 1), State: AttemptFailed, Error: "bad input", Fatal: true})
	j := h.job("j")
	if j.State != JobFailed || len(j.Task("s", 0).Attempts) != 1 {
		t.Fatalf("job %s after a fatal error with %d attempts; want failed after 1", j.State, len(j.Task("s", 0).Attempts))
	}
	if other := j.Task("s", 1); other.State != TaskCancelled || other.Attempts[0].State != AttemptCancelled {
		t.Fatalf("other task %s attempt %s; want both cancelled", other.State, other.Attempts[0].State)
	}
	if e := h.executorStatus("x"); e.Used != (Resources{}) {
		t.Fatalf("executor still holds %s after the job failed", e.Used)
	}
}

func TestCancelStopsJobAndRefusesLateReports(t *testing.T) {
	h := newHarness(t)
	h.executor("x", Resources{CPU: 4})
	h.submit("j", oneStage(3))
	h.schedule()
	r := h.apply(Encode(CmdCancelJob, CancelJob{ID: "j", Reason: "user", Time: h.now}))
	cancelled := 0
	for _, e := range r.Events {
		if e.Kind == KindAttempt && e.State == "cancelled" {
			cancelled++
		}
	}
	if cancelled != 3 || h.job("j").State != JobCancelled {
		t.Fatalf("cancel: %d attempts cancelled, job %s; want 3, cancelled", cancelled, h.job("j").State)
	}
	if r := h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted}); len(r.Rejected) != 1 {
		t.Fatalf("late commit after cancel: rejected %v, want one refusal", r.Rejected)
	}
}

func TestSubmitIsIdempotentByKey(t *testing.T) {
	h := newHarness(t)
	spec := oneStage(1)
	spec.MaxAttempts = 1
	r1 := h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "a", Spec: spec, IdempotencyKey: "s3-event-1", Time: h.now}))
	r2 := h.apply(Encode(CmdSubmitJob, SubmitJob{ID: "b", Spec: spec, IdempotencyKey: "s3-event-1", Time: h.now}))
	if r1.JobID != "a" || r2.JobID != "a" {
		t.Fatalf("job IDs %q, %q; want a twice", r1.JobID, r2.JobID)
	}
	h.fsm.Read(func(s *State) {
		if len(s.Jobs) != 1 {
			t.Fatalf("%d jobs, want 1", len(s.Jobs))
		}
	})
}

func TestModifyIndexIsLogIndex(t *testing.T) {
	h := newHarness(t)
	h.executor("x", Resources{CPU: 1})
	h.submit("j", oneStage(1))
	h.schedule()
	idx := h.idx
	j := h.job("j")
	if j.CreateIndex != 2 || j.Task("s", 0).ModifyIndex != idx || j.Task("s", 0).Attempts[0].ModifyIndex != idx {
		t.Fatalf("create index %d, task modify %d, attempt modify %d; want 2, %d, %d",
			j.CreateIndex, j.Task("s", 0).ModifyIndex, j.Task("s", 0).Attempts[0].ModifyIndex, idx, idx)
	}
	if r := h.fsm.Apply(idx, Encode(CmdCancelJob, CancelJob{ID: "j"})); r.Err == nil {
		t.Fatal("re-applying an old index was accepted")
	}
}

func TestSnapshotRestoreReachesSameState(t *testing.T) {
	h := newHarness(t)
	h.executor("x", Resources{CPU: 2})
	h.submit("j", oneStage(3))
	h.schedule()
	h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted, Outputs: []Output{{Key: "k"}}})
	var snap bytes.Buffer
	if err := h.fsm.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	other := NewFSM()
	if err := other.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	next := Encode(CmdReports, Reports{Reports: []Report{{Attempt: aid("j", 1, 1), State: AttemptCommitted, Time: h.now}}})
	h.fsm.Apply(h.idx+1, next)
	other.Apply(h.idx+1, next)
	var a, b bytes.Buffer
	h.fsm.Snapshot(&a)
	other.Snapshot(&b)
	if a.String() != b.String() {
		t.Fatalf("states differ after restore and one more command:\n%s\n%s", a.String(), b.String())
	}
}

func TestBatchAppliesManyChangesUnderOneIndex(t *testing.T) {
	h := newHarness(t)
	h.executor("x", Resources{CPU: 100})
	h.submit("j", oneStage(100))
	h.schedule()
	var cmds [][]byte
	for p := 0; p < 100; p++ {
		cmds = append(cmds, Encode(CmdReports, Reports{Reports: []Report{{Attempt: aid("j", p, 1), State: AttemptCommitted, Time: h.now}}}))
	}
	r := h.apply(EncodeBatch(cmds...))
	if j := h.job("j"); j.Stage("s").Done != 100 || j.State != JobCommitting {
		t.Fatalf("after one batch: %d done, job %s; want 100, committing", j.Stage("s").Done, j.State)
	}
	checkForward(t, r.Events)
}

func TestJobEndsOnlyThroughItsManifest(t *testing.T) {
	for _, tc := range []struct {
		name, err string
		want      JobState
	}{
		{"manifest written", "", JobSucceeded},
		{"manifest failed", "disk full", JobFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.executor("x", Resources{CPU: 1})
			h.submit("j", oneStage(1))
			h.schedule()
			h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted})
			if r := h.fsm.Apply(h.idx+1, Encode(CmdCancelJob, CancelJob{ID: "j"})); r.Err == nil {
				t.Fatal("a job publishing its manifest was cancelled")
			}
			h.idx++
			h.apply(Encode(CmdJobManifest, JobManifest{ID: "j", Error: tc.err, Time: h.now}))
			if j := h.job("j"); j.State != tc.want || !strings.Contains(j.Error, tc.err) {
				t.Fatalf("job %s (%q), want %s", j.State, j.Error, tc.want)
			}
		})
	}
}
