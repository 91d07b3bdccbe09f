package scaling

import (
	"time"

	"github.com/celebrity-zones/cz/engine"
)

// Policy bounds and shapes the executor count.
type Policy struct {
	// PerExecutor is what one executor offers (for a GPU instance: its
	// CPUs, GPUs and memory as it advertises them).
	PerExecutor engine.Resources
	// Min and Max bound the count. Min is normally 0: no job, no cost.
	Min, Max int
	// IdleAfter is how long the cluster must have had no work before the
	// executors go (back to Min).
	IdleAfter time.Duration
}

// Load is the work the engine holds.
type Load struct {
	// Need sums the resources of the tasks that are ready or running.
	Need engine.Resources
	// Jobs counts the jobs not finished; one with only waiting tasks
	// (between stages) still keeps its executors.
	Jobs int
}

// Idle reports whether there is no work at all.
func (l Load) Idle() bool { return l.Jobs == 0 && l.Need == (engine.Resources{}) }

// Executors is how many executors the load needs at once: for each of
// CPU, GPU and memory, the need divided by one executor's offer, rounded
// up, and the largest of the three. A need on a dimension executors do
// not offer is left out (the engine refuses such jobs at submission).
func (p Policy) Executors(need engine.Resources) int {
	n := 0
	for _, d := range [][2]int64{
		{int64(need.CPU), int64(p.PerExecutor.CPU)},
		{int64(need.GPU), int64(p.PerExecutor.GPU)},
		{need.MemoryMB, p.PerExecutor.MemoryMB},
	} {
		if d[0] > 0 && d[1] > 0 {
			n = max(n, int((d[0]+d[1]-1)/d[1]))
		}
	}
	return n
}

// Desired is the executor count to ask for, given the count asked for
// now, the load, and how long the cluster has been idle:
//
//   - more work than executors: grow at once to what the work needs;
//   - no work for IdleAfter: shrink to Min;
//   - otherwise keep the count. Shrinking partway would let the group
//     pick which instance goes, maybe a busy one, so executors only go
//     all together when idle.
//
// The result is always within [Min, Max].
func (p Policy) Desired(current int, l Load, idle time.Duration) int {
	want := current
	if need := p.Executors(l.Need); need > current {
		want = need
	} else if l.Idle() && idle >= p.IdleAfter {
		want = p.Min
	}
	return min(max(want, p.Min), p.Max)
}

// LoadOf measures the work in an engine's state.
func LoadOf(s *engine.State) Load {
	var l Load
	for _, j := range s.Jobs {
		if j.State.Terminal() {
			continue
		}
		l.Jobs++
		for _, st := range j.Stages {
			var res engine.Resources
			for _, ss := range j.Spec.Stages {
				if ss.Name == st.Name {
					res = ss.Resources
				}
			}
			for _, t := range st.Tasks {
				if t.State == engine.TaskReady || t.State == engine.TaskRunning {
					l.Need = l.Need.Add(res)
				}
			}
		}
	}
	return l
}

// EngineLoad reads the load of an engine (the leader's, on a cluster).
func EngineLoad(e *engine.Engine) func() Load {
	return func() Load {
		var l Load
		e.FSM().Read(func(s *engine.State) { l = LoadOf(s) })
		return l
	}
}
