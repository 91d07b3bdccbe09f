package engine

import (
	"slices"
	"sort"
	"time"
)

// SchedulerConfig tunes the scheduler.
type SchedulerConfig struct {
	// A running attempt is a straggler when it has run SpeculationMultiplier
	// times the median duration of its stage's committed tasks, once
	// SpeculationQuantile of them are committed, and at least
	// SpeculationMinRuntime (Spark's defaults, with a shorter floor).
	SpeculationMultiplier float64
	SpeculationQuantile   float64
	SpeculationMinRuntime time.Duration
}

// DefaultSchedulerConfig is what the engine uses unless told otherwise.
var DefaultSchedulerConfig = SchedulerConfig{
	SpeculationMultiplier: 1.5,
	SpeculationQuantile:   0.75,
	SpeculationMinRuntime: 200 * time.Millisecond,
}

// Schedule plans assignments for the tasks that need an attempt: new
// tasks, retries of failed or lost attempts, and speculative copies of
// stragglers. It is a pure function of the state and the time: it reads
// s and changes nothing; the plan is committed by applying CmdPlan, which
// re-checks every assignment against the state at that time.
func Schedule(s *State, now time.Time, cfg SchedulerConfig) Plan {
	p := planner{s: s, free: map[string]Resources{}}
	for _, id := range s.ExecutorIDs() {
		if e := s.Executors[id]; e.Alive {
			p.ids = append(p.ids, id)
			p.free[id] = e.Free()
		}
	}
	plan := Plan{Time: now}
	for _, jid := range s.JobOrder {
		j := s.Jobs[jid]
		if j.State != JobRunning {
			continue
		}
		for _, st := range j.Stages {
			if st.State != TaskReady && st.State != TaskRunning || !j.UpstreamCommitted(st.Name) {
				continue // not started, finished, or waiting for a re-opened upstream task
			}
			ss := j.Spec.Stage(st.Name)
			for _, t := range st.Tasks[st.First:] {
				if !p.anyFree() {
					return plan
				}
				if t.State.Terminal() || t.LiveCount() > 0 {
					continue
				}
				if ex := p.pick(ss, t, ""); ex != "" {
					plan.Assignments = append(plan.Assignments, Assignment{
						Attempt:  AttemptID{Job: j.ID, Stage: st.Name, Partition: t.Partition, Attempt: len(t.Attempts) + 1},
						Executor: ex,
					})
				}
			}
			if j.Spec.Speculation {
				plan.Assignments = append(plan.Assignments, p.speculate(j, st, ss, now, cfg)...)
			}
		}
	}
	return plan
}

type planner struct {
	s    *State
	ids  []string // alive executors, sorted
	free map[string]Resources
}

func (p *planner) anyFree() bool {
	for _, f := range p.free {
		if f.CPU > 0 || f.GPU > 0 {
			return true
		}
	}
	return false
}

// pick chooses an executor for a task and takes its resources: one that
// holds the task's locality key if any fits, else one the task has not
// failed on, with the most free CPU; "" when none fits. avoid is an
// executor that must not be chosen (the straggler's, for a copy).
func (p *planner) pick(ss *StageSpec, t *TaskStatus, avoid string) string {
	key := ""
	if len(ss.Locality) > 0 {
		key = ss.Locality[t.Partition]
	}
	failedOn := func(id string) bool {
		for _, a := range t.Attempts {
			if a.Executor == id && a.State == AttemptFailed {
				return true
			}
		}
		return false
	}
	best, bestScore := "", -1
	for _, id := range p.ids {
		if id == avoid || !p.free[id].Fits(ss.Resources) {
			continue
		}
		score := p.free[id].CPU + p.free[id].GPU
		if !failedOn(id) {
			score += 1 << 20
		}
		if p.s.Executors[id].HoldsKey(key) {
			score += 1 << 30
		}
		if score > bestScore {
			best, bestScore = id, score
		}
	}
	if best != "" {
		p.free[best] = p.free[best].Sub(ss.Resources)
	}
	return best
}

// speculate plans copies of a stage's stragglers on other executors.
func (p *planner) speculate(j *Job, st *Stage, ss *StageSpec, now time.Time, cfg SchedulerConfig) []Assignment {
	if st.State != TaskRunning || float64(st.Done) < cfg.SpeculationQuantile*float64(len(st.Tasks)) || st.Done == 0 {
		return nil
	}
	var durations []time.Duration
	for _, t := range st.Tasks {
		if at := t.Attempt(t.Committed); at != nil && !at.Started.IsZero() {
			durations = append(durations, at.Finished.Sub(at.Started))
		}
	}
	if len(durations) == 0 {
		return nil
	}
	sort.Slice(durations, func(a, b int) bool { return durations[a] < durations[b] })
	threshold := time.Duration(cfg.SpeculationMultiplier * float64(durations[len(durations)/2]))
	threshold = max(threshold, cfg.SpeculationMinRuntime)
	var out []Assignment
	for _, t := range st.Tasks {
		live := t.Live()
		if t.State.Terminal() || len(live) != 1 || live[0].State != AttemptRunning ||
			now.Sub(live[0].Started) < threshold || slices.ContainsFunc(t.Attempts, func(a *Attempt) bool { return a.Speculative }) {
			continue
		}
		if ex := p.pick(ss, t, live[0].Executor); ex != "" {
			out = append(out, Assignment{
				Attempt:     AttemptID{Job: j.ID, Stage: st.Name, Partition: t.Partition, Attempt: len(t.Attempts) + 1},
				Executor:    ex,
				Speculative: true,
			})
		}
	}
	return out
}
