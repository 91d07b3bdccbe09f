package engine

import (
	"bytes"
	"testing"
	"time"
)

func TestScheduleRespectsResources(t *testing.T) {
	h := newHarness(t)
	h.executor("cpu1", Resources{CPU: 2, MemoryMB: 1000})
	h.executor("cpu2", Resources{CPU: 2, MemoryMB: 300})
	h.executor("gpu", Resources{CPU: 1, GPU: 1, MemoryMB: 1000})
	h.submit("j", JobSpec{Version: 1, Name: "r", Stages: []StageSpec{
		{Name: "s", Operator: "op", Partitions: 6, Resources: Resources{CPU: 1, MemoryMB: 200}},
		{Name: "g", Operator: "op", Partitions: 3, Resources: Resources{GPU: 1}},
	}})
	plan, r := h.schedule()
	if len(r.Rejected) != 0 {
		t.Fatalf("applier refused a fresh plan: %v", r.Rejected)
	}
	per := map[string]int{}
	gpuTasks := 0
	for _, a := range plan.Assignments {
		per[a.Executor]++
		if a.Attempt.Stage == "g" {
			gpuTasks++
			if a.Executor != "gpu" {
				t.Errorf("GPU task %s went to %s", a.Attempt, a.Executor)
			}
		}
	}
	// cpu2 has memory for one 200 MB task only; gpu takes one GPU task and
	// then has a CPU slot left.
	if per["cpu1"] != 2 || per["cpu2"] != 1 || gpuTasks != 1 {
		t.Fatalf("assignments per executor %v with %d GPU tasks; want cpu1:2 cpu2:1 and 1 GPU task", per, gpuTasks)
	}
	for _, id := range []string{"cpu1", "cpu2", "gpu"} {
		e := h.executorStatus(id)
		if !e.Resources.Fits(e.Used) {
			t.Errorf("executor %s oversubscribed: uses %s of %s", id, e.Used, e.Resources)
		}
	}
}

func TestSchedulePrefersExecutorsHoldingInputs(t *testing.T) {
	h := newHarness(t)
	h.executor("a", Resources{CPU: 4})
	h.executor("b", Resources{CPU: 4}, "shard-1", "shard-3")
	h.submit("j", JobSpec{Version: 1, Name: "ann", Stages: []StageSpec{{
		Name: "s", Operator: "op", Partitions: 4, Resources: Resources{CPU: 1},
		Locality: []string{"shard-0", "shard-1", "shard-2", "shard-3"},
	}}})
	plan, _ := h.schedule()
	got := map[int]string{}
	for _, a := range plan.Assignments {
		got[a.Attempt.Partition] = a.Executor
	}
	if got[1] != "b" || got[3] != "b" {
		t.Fatalf("shards 1 and 3 went to %q and %q, want b (which holds them)", got[1], got[3])
	}
	// Once a commits shard-0 it holds it too.
	h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted})
	if e := h.executorStatus(got[0]); !e.HoldsKey("shard-0") {
		t.Fatalf("executor %s committed shard-0 but does not hold it: %v", got[0], e.Holds)
	}
}

func TestScheduleWaitsForUpstream(t *testing.T) {
	h := newHarness(t)
	h.executor("x", Resources{CPU: 8})
	h.submit("j", JobSpec{Version: 1, Name: "dag", Stages: []StageSpec{
		{Name: "s", Operator: "op", Partitions: 2, Resources: Resources{CPU: 1}},
		{Name: "down", Operator: "op", Partitions: 1, Upstream: []string{"s"}, Resources: Resources{CPU: 1}},
	}})
	plan, _ := h.schedule()
	if len(plan.Assignments) != 2 {
		t.Fatalf("first plan %+v, want the 2 upstream tasks only", plan.Assignments)
	}
	h.report(Report{Attempt: aid("j", 0, 1), State: AttemptCommitted}, Report{Attempt: aid("j", 1, 1), State: AttemptCommitted})
	plan, _ = h.schedule()
	if len(plan.Assignments) != 1 || plan.Assignments[0].Attempt.Stage != "down" {
		t.Fatalf("plan after upstream committed: %+v, want the down task", plan.Assignments)
	}
}

func TestScheduleRetriesOnAnotherExecutor(t *testing.T) {
	h := newHarness(t)
	h.executor("a", Resources{CPU: 1})
	h.executor("b", Resources{CPU: 1})
	h.submit("j", oneStage(1))
	plan, _ := h.schedule()
	first := plan.Assignments[0].Executor
	h.report(Report{Attempt: aid("j", 0, 1), State: AttemptFailed, Error: "flaky disk"})
	plan, _ = h.schedule()
	if len(plan.Assignments) != 1 || plan.Assignments[0].Executor == first || plan.Assignments[0].Attempt.Attempt != 2 {
		t.Fatalf("retry plan %+v; want attempt 2 away from %s", plan.Assignments, first)
	}
}

func TestScheduleSpeculatesStragglers(t *testing.T) {
	h := newHarness(t)
	h.executor("a", Resources{CPU: 4})
	h.executor("b", Resources{CPU: 4})
	spec := oneStage(4)
	spec.Speculation = true
	h.submit("j", spec)
	plan, _ := h.schedule()
	var slow Assignment
	for _, a := range plan.Assignments {
		h.report(Report{Attempt: a.Attempt, State: AttemptRunning})
		if a.Attempt.Partition == 3 {
			slow = a
			continue
		}
		h.now = h.now.Add(time.Second)
		h.report(Report{Attempt: a.Attempt, State: AttemptCommitted})
	}
	// Committed tasks took 1 s each; the straggler has just started.
	if plan, _ := h.schedule(); len(plan.Assignments) != 0 {
		t.Fatalf("speculated too early: %+v", plan.Assignments)
	}
	h.now = h.now.Add(2 * time.Second)
	plan, _ = h.schedule()
	if len(plan.Assignments) != 1 || !plan.Assignments[0].Speculative || plan.Assignments[0].Executor == slow.Executor {
		t.Fatalf("plan for the straggler %+v; want one speculative copy away from %s", plan.Assignments, slow.Executor)
	}
	if plan, _ := h.schedule(); len(plan.Assignments) != 0 {
		t.Fatalf("a second copy was planned: %+v", plan.Assignments)
	}
}

func TestScheduleIsPureAndStalePlansAreRefused(t *testing.T) {
	h := newHarness(t)
	h.executor("x", Resources{CPU: 2})
	h.submit("j", oneStage(2))
	var before, after bytes.Buffer
	h.fsm.Snapshot(&before)
	var plan Plan
	h.fsm.Read(func(s *State) { plan = Schedule(s, h.now, DefaultSchedulerConfig) })
	h.fsm.Snapshot(&after)
	if before.String() != after.String() {
		t.Fatal("Schedule changed the state")
	}
	h.apply(Encode(CmdPlan, plan))
	if r := h.apply(Encode(CmdPlan, plan)); len(r.Rejected) != 2 {
		t.Fatalf("re-applying the same plan: rejected %v, want both assignments refused", r.Rejected)
	}
	if e := h.executorStatus("x"); e.Used.CPU != 2 {
		t.Fatalf("executor uses %d CPU, want 2", e.Used.CPU)
	}
}
