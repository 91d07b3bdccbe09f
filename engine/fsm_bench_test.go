package engine

import (
	"testing"
)

// BenchmarkApplyBatchedReports measures task state changes applied per
// second by the FSM alone, 1,000 reports per command (what a Raft leader
// batches), each one a committed attempt.
func BenchmarkApplyBatchedReports(b *testing.B) {
	const tasks = 1000
	changes := 0
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b)
		h.executor("x", Resources{CPU: tasks})
		h.submit("j", oneStage(tasks))
		h.schedule()
		reps := make([]Report, tasks)
		for p := range reps {
			reps[p] = Report{Attempt: aid("j", p, 1), State: AttemptCommitted, Time: h.now}
		}
		cmd := Encode(CmdReports, Reports{Reports: reps})
		b.StartTimer()
		r := h.fsm.Apply(h.idx+1, cmd)
		changes += len(r.Events)
	}
	b.ReportMetric(float64(changes)/b.Elapsed().Seconds(), "changes/s")
}
