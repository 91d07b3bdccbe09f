package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// applier applies one command to the state. Every transition goes through
// the set* helpers, which enforce forward-only states, stamp the modify
// index and record an Event.
type applier struct {
	s     *State
	index uint64
	r     *Result
	now   time.Time
}

func (a *applier) apply(cmd []byte) error {
	if len(cmd) == 0 {
		return fmt.Errorf("empty command")
	}
	body := cmd[1:]
	decode := func(v any) error {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("decode command %d: %w", cmd[0], err)
		}
		return nil
	}
	switch CommandType(cmd[0]) {
	case CmdBatch:
		var cmds [][]byte
		if err := decode(&cmds); err != nil {
			return err
		}
		for _, c := range cmds {
			if err := a.apply(c); err != nil {
				a.r.Rejected = append(a.r.Rejected, err.Error())
			}
		}
		return nil
	case CmdSubmitJob:
		var c SubmitJob
		if err := decode(&c); err != nil {
			return err
		}
		return a.submit(c)
	case CmdCancelJob:
		var c CancelJob
		if err := decode(&c); err != nil {
			return err
		}
		a.now = c.Time
		j := a.s.Jobs[c.ID]
		if j == nil {
			return fmt.Errorf("cancel: no job %q", c.ID)
		}
		if j.State.Terminal() {
			return nil // cancelling a finished job changes nothing
		}
		if j.State == JobCommitting {
			return fmt.Errorf("cancel: job %s has committed every task and is publishing its manifest", c.ID)
		}
		a.endJob(j, JobCancelled, "cancelled: "+c.Reason)
		return nil
	case CmdRegisterExecutor:
		var c RegisterExecutor
		if err := decode(&c); err != nil {
			return err
		}
		e := a.s.Executors[c.ID]
		if e == nil {
			e = &ExecutorStatus{ID: c.ID, Registered: c.Time}
			a.s.Executors[c.ID] = e
		}
		e.Resources, e.Holds, e.Alive, e.ModifyIndex = c.Resources, c.Holds, true, a.index
		return nil
	case CmdExecutorLost:
		var c ExecutorLost
		if err := decode(&c); err != nil {
			return err
		}
		a.now = c.Time
		return a.executorLost(c.ID)
	case CmdPlan:
		var c Plan
		if err := decode(&c); err != nil {
			return err
		}
		a.now = c.Time
		for _, as := range c.Assignments {
			if err := a.assign(as); err != nil {
				a.r.Rejected = append(a.r.Rejected, fmt.Sprintf("assign %s: %v", as.Attempt, err))
			}
		}
		return nil
	case CmdReports:
		var c Reports
		if err := decode(&c); err != nil {
			return err
		}
		for _, rep := range c.Reports {
			a.now = rep.Time
			if err := a.report(rep); err != nil {
				a.r.Rejected = append(a.r.Rejected, fmt.Sprintf("report %s %s: %v", rep.Attempt, rep.State, err))
			}
		}
		return nil
	case CmdAuthorizeCommit:
		var c AuthorizeCommit
		if err := decode(&c); err != nil {
			return err
		}
		granted, err := a.authorize(c.Attempt)
		a.r.Granted = granted
		return err
	case CmdForgetJobs:
		var c ForgetJobs
		if err := decode(&c); err != nil {
			return err
		}
		a.now = c.Time
		a.forget(c)
		return nil
	case CmdJobManifest:
		var c JobManifest
		if err := decode(&c); err != nil {
			return err
		}
		a.now = c.Time
		j := a.s.Jobs[c.ID]
		if j == nil {
			return fmt.Errorf("manifest: no job %q", c.ID)
		}
		if j.State != JobCommitting {
			return fmt.Errorf("manifest: job %s is %s, not committing", c.ID, j.State)
		}
		if c.Error != "" {
			a.setJob(j, JobFailed, "writing the job manifest: "+c.Error)
			return nil
		}
		a.setJob(j, JobSucceeded, "")
		return nil
	}
	return fmt.Errorf("%w %d", ErrUnknownCommand, cmd[0])
}

func (a *applier) submit(c SubmitJob) error {
	if c.IdempotencyKey != "" {
		if id, ok := a.s.Keys[c.IdempotencyKey]; ok {
			a.r.JobID = id
			return nil
		}
	}
	if _, dup := a.s.Jobs[c.ID]; dup {
		return fmt.Errorf("submit: job %q exists", c.ID)
	}
	// Validation here would depend on the operators registered in this
	// process; the proposer validates instead, so every replica agrees.
	j := newJob(c.ID, c.Spec, c.Time)
	j.IdempotencyKey = c.IdempotencyKey
	j.CreateIndex, j.ModifyIndex = a.index, a.index
	a.s.Jobs[j.ID] = j
	a.s.JobOrder = append(a.s.JobOrder, j.ID)
	if c.IdempotencyKey != "" {
		a.s.Keys[c.IdempotencyKey] = j.ID
	}
	a.r.JobID = j.ID
	spec := c.Spec
	a.event(Event{Time: c.Time, Job: j.ID, Kind: KindJob, State: j.State.String(), Spec: &spec})
	return nil
}

func (a *applier) find(id AttemptID) (*Job, *Stage, *TaskStatus, *Attempt, error) {
	j := a.s.Jobs[id.Job]
	if j == nil {
		return nil, nil, nil, nil, fmt.Errorf("no job %q", id.Job)
	}
	st := j.Stage(id.Stage)
	if st == nil || id.Partition < 0 || id.Partition >= len(st.Tasks) {
		return nil, nil, nil, nil, fmt.Errorf("no task %s/p%d", id.Stage, id.Partition)
	}
	t := st.Tasks[id.Partition]
	return j, st, t, t.Attempt(id.Attempt), nil
}

// assign re-checks one planned assignment against the current state.
func (a *applier) assign(as Assignment) error {
	j, st, t, _, err := a.find(as.Attempt)
	if err != nil {
		return err
	}
	if j.State != JobRunning {
		return fmt.Errorf("job is %s", j.State)
	}
	if t.State != TaskReady && t.State != TaskRunning {
		return fmt.Errorf("task is %s", t.State)
	}
	if !j.UpstreamCommitted(st.Name) {
		return fmt.Errorf("an upstream task was re-opened and has not committed again")
	}
	if as.Attempt.Attempt != len(t.Attempts)+1 {
		return fmt.Errorf("stale plan: next attempt is %d", len(t.Attempts)+1)
	}
	live := len(t.Live())
	if as.Speculative && (live != 1 || !j.Spec.Speculation) {
		return fmt.Errorf("speculative copy needs exactly one live attempt and speculation on (live %d)", live)
	}
	if !as.Speculative && live != 0 {
		return fmt.Errorf("task already has %d live attempts", live)
	}
	e := a.s.Executors[as.Executor]
	if e == nil || !e.Alive {
		return fmt.Errorf("executor %q is not alive", as.Executor)
	}
	need := j.Spec.Stage(st.Name).Resources
	if !e.Free().Fits(need) {
		return fmt.Errorf("executor %s has %s free, task needs %s", e.ID, e.Free(), need)
	}
	e.Used = e.Used.Add(need)
	e.Running++
	e.ModifyIndex = a.index
	at := &Attempt{Num: as.Attempt.Attempt, Executor: e.ID, State: AttemptAssigned, Speculative: as.Speculative,
		Assigned: a.now, CreateIndex: a.index, ModifyIndex: a.index}
	t.Attempts = append(t.Attempts, at)
	a.attemptEvent(j.ID, st.Name, t.Partition, at)
	a.setTask(j, st, t, TaskRunning)
	if st.State == TaskReady {
		a.setStage(j, st, TaskRunning)
	}
	return nil
}

func (a *applier) report(rep Report) error {
	j, st, t, at, err := a.find(rep.Attempt)
	if err != nil {
		return err
	}
	if at == nil {
		return fmt.Errorf("no such attempt")
	}
	if at.State.Live() { // a late report changes nothing
		if rep.Counters != nil {
			at.Counters = rep.Counters
		}
		if rep.LogTail != "" {
			at.LogTail = rep.LogTail
		}
		if rep.Problems != nil {
			at.Problems = rep.Problems
		}
	}
	switch rep.State {
	case AttemptRunning:
		if at.State != AttemptAssigned {
			return fmt.Errorf("attempt is %s", at.State) // late or repeated: harmless
		}
		at.Started = rep.Time
		a.setAttempt(j, st, t, at, AttemptRunning, "")
		return nil
	case AttemptCommitted:
		return a.commit(j, st, t, at, rep.Outputs)
	case AttemptFailed:
		if at.State.Terminal() {
			return fmt.Errorf("attempt is already %s", at.State)
		}
		at.Fatal = rep.Fatal
		if rep.LostInput != nil && !rep.Fatal {
			return a.lostInput(j, st, t, at, *rep.LostInput, rep.Error)
		}
		a.setAttempt(j, st, t, at, AttemptFailed, rep.Error)
		t.Failures++
		a.afterAttemptDied(j, st, t, at)
		return nil
	case AttemptCancelled:
		// The operator was denied the commit grant (ErrCommitDenied) and
		// stopped: the attempt ends without counting a failure.
		if at.State.Terminal() {
			return fmt.Errorf("attempt is already %s", at.State)
		}
		a.setAttempt(j, st, t, at, AttemptCancelled, rep.Error)
		a.afterAttemptDied(j, st, t, at)
		return nil
	}
	return fmt.Errorf("a report cannot set state %s", rep.State)
}

// authorize is the commit registry's grant: at most one live attempt per
// task holds it. It is idempotent for the holder, refuses every other
// attempt while the holder lives, and is released when the holder dies
// before committing (afterAttemptDied), so a retry can commit: SPARK-39195.
func (a *applier) authorize(id AttemptID) (bool, error) {
	_, _, t, at, err := a.find(id)
	if err != nil {
		return false, err
	}
	if at == nil {
		return false, fmt.Errorf("no attempt %s", id)
	}
	if t.Committed != 0 {
		return t.Committed == at.Num, nil
	}
	if !at.State.Live() {
		return false, nil // superseded: lost, failed or cancelled
	}
	if t.Grant == 0 || t.Grant == at.Num {
		t.Grant = at.Num
		t.ModifyIndex = a.index
		return true, nil
	}
	return false, nil
}

// commit accepts an attempt's outputs as the task's output, exactly once.
func (a *applier) commit(j *Job, st *Stage, t *TaskStatus, at *Attempt, outputs []Output) error {
	if t.Committed == at.Num {
		return nil // a repeated report of the committed attempt
	}
	granted, _ := a.authorize(AttemptID{Job: j.ID, Stage: st.Name, Partition: t.Partition, Attempt: at.Num})
	if !granted {
		reason := "superseded"
		if t.Committed != 0 {
			reason = fmt.Sprintf("attempt %d committed first", t.Committed)
		} else if t.Grant != 0 {
			reason = fmt.Sprintf("attempt %d holds the commit grant", t.Grant)
		}
		if at.State.Live() {
			a.setAttempt(j, st, t, at, AttemptCancelled, reason)
		}
		return fmt.Errorf("commit denied: %s", reason)
	}
	t.Committed, t.Outputs, t.CommitIndex = at.Num, outputs, a.index
	a.setAttempt(j, st, t, at, AttemptCommitted, "")
	// The executor now holds this partition's input (an index shard, say):
	// later tasks with the same locality key prefer it.
	if ss := j.Spec.Stage(st.Name); len(ss.Locality) > 0 {
		if e := a.s.Executors[at.Executor]; e != nil && !e.HoldsKey(ss.Locality[t.Partition]) {
			e.Holds = append(e.Holds, ss.Locality[t.Partition])
		}
	}
	for _, other := range t.Live() {
		a.setAttempt(j, st, t, other, AttemptCancelled, fmt.Sprintf("attempt %d committed first", at.Num))
	}
	a.setTask(j, st, t, TaskCommitted)
	st.Done++
	if st.Done < len(st.Tasks) {
		return nil
	}
	a.setStage(j, st, TaskCommitted)
	// Start the stages whose upstream is now all committed.
	all := true
	for _, down := range j.Stages {
		if down.State == TaskWaiting && j.UpstreamCommitted(down.Name) {
			a.setStage(j, down, TaskReady)
			for _, dt := range down.Tasks {
				a.setTask(j, down, dt, TaskReady)
			}
		}
		all = all && down.State == TaskCommitted
	}
	if all {
		a.setJob(j, JobCommitting, "")
	}
	return nil
}

// lostInput fails attempt at, which could not read the committed output
// of upstream task in, without counting a failure: it re-opens that task
// (a new attempt recomputes the output) unless the output at read has
// already been replaced, and the scheduler holds at's task back until
// the upstream stage has committed again. A task whose output is lost
// more than MaxAttempts times fails the job.
func (a *applier) lostInput(j *Job, st *Stage, t *TaskStatus, at *Attempt, in InputRef, msg string) error {
	ss := j.Spec.Stage(st.Name)
	ut := j.Task(in.Stage, in.Partition)
	if ut == nil || !slices.Contains(ss.Upstream, in.Stage) {
		// Not an input of this task: an operator bug, counted as a failure.
		a.setAttempt(j, st, t, at, AttemptFailed, fmt.Sprintf("%s (its lost input %s is not a partition of an upstream stage of %s)", msg, in, st.Name))
		t.Failures++
		a.afterAttemptDied(j, st, t, at)
		return nil
	}
	at.LostInput = &in
	a.setAttempt(j, st, t, at, AttemptFailed, msg)
	// The attempt read the output committed before it was assigned; a
	// later commit replaced it, and a task not committed is re-running.
	if ut.State == TaskCommitted && ut.CommitIndex <= at.CreateIndex {
		if ut.Reopened >= j.Spec.MaxAttempts {
			a.afterAttemptDied(j, st, t, at)
			if !j.State.Terminal() && len(t.Live()) == 0 {
				a.failTask(j, st, t, fmt.Sprintf("task %s/p%d: the output of %s was lost %d times (max_attempts %d), last: %s",
					st.Name, t.Partition, in, ut.Reopened+1, j.Spec.MaxAttempts, msg))
			}
			return nil
		}
		a.reopen(j, j.Stage(in.Stage), ut, fmt.Sprintf("output of attempt %d lost, found by %s/p%d/a%d: %s", ut.Committed, st.Name, t.Partition, at.Num, msg))
	}
	a.afterAttemptDied(j, st, t, at)
	return nil
}

// reopen moves a committed task, and its stage, back to running (the one
// backward move, see CanReopen) so that a new attempt commits a new
// output; the old attempt stays committed in the history, but its
// outputs are no longer the task's and are swept at the end.
func (a *applier) reopen(j *Job, st *Stage, t *TaskStatus, msg string) {
	if !t.State.CanReopen() || !st.State.CanReopen() && st.State != TaskRunning {
		panic(fmt.Sprintf("engine: task %s/%s/p%d (%s, stage %s) cannot be re-opened", j.ID, st.Name, t.Partition, t.State, st.State))
	}
	t.State, t.Committed, t.Outputs, t.Grant, t.CommitIndex = TaskRunning, 0, nil, 0, 0
	t.Reopened++
	t.ModifyIndex = a.index
	st.Done--
	st.First = min(st.First, t.Partition)
	a.event(Event{Time: a.now, Job: j.ID, Kind: KindTask, Stage: st.Name, Partition: t.Partition,
		State: TaskRunning.String(), Reopened: true, Error: msg})
	if st.State == TaskCommitted {
		st.State, st.ModifyIndex = TaskRunning, a.index
		a.event(Event{Time: a.now, Job: j.ID, Kind: KindStage, Stage: st.Name, State: TaskRunning.String(), Reopened: true})
	}
}

// afterAttemptDied releases the grant of a dead attempt and decides whether
// the task gets another attempt (the scheduler plans it) or fails the job.
func (a *applier) afterAttemptDied(j *Job, st *Stage, t *TaskStatus, died *Attempt) {
	if t.Grant == died.Num && t.Committed == 0 {
		t.Grant = 0
	}
	fatal := false
	for _, x := range t.Attempts {
		fatal = fatal || x.Fatal
	}
	if len(t.Live()) > 0 {
		return // a speculative copy is still running
	}
	limit := j.Spec.MaxAttempts
	tries := 0 // attempts that could have run: lost inputs are the upstream's fault
	for _, x := range t.Attempts {
		if x.LostInput == nil {
			tries++
		}
	}
	switch {
	case fatal:
		a.failTask(j, st, t, fmt.Sprintf("task %s/p%d: fatal error: %s", st.Name, t.Partition, died.Error))
	case t.Failures >= limit:
		a.failTask(j, st, t, fmt.Sprintf("task %s/p%d failed %d times, last: %s", st.Name, t.Partition, t.Failures, died.Error))
	case tries >= 4*limit+4:
		a.failTask(j, st, t, fmt.Sprintf("task %s/p%d: %d attempts lost or failed", st.Name, t.Partition, tries))
	}
}

func (a *applier) failTask(j *Job, st *Stage, t *TaskStatus, msg string) {
	a.setTask(j, st, t, TaskFailed)
	a.setStage(j, st, TaskFailed)
	a.endJob(j, JobFailed, msg)
}

func (a *applier) executorLost(id string) error {
	e := a.s.Executors[id]
	if e == nil {
		return fmt.Errorf("no executor %q", id)
	}
	e.Alive = false
	e.ModifyIndex = a.index
	for _, jid := range a.s.JobOrder {
		j := a.s.Jobs[jid]
		if j.State.Terminal() {
			continue
		}
		for _, st := range j.Stages {
			for _, t := range st.Tasks {
				for _, at := range t.Live() {
					if at.Executor == id && !j.State.Terminal() {
						a.setAttempt(j, st, t, at, AttemptLost, "executor "+id+" lost")
						a.afterAttemptDied(j, st, t, at)
					}
				}
			}
		}
	}
	return nil
}

// endJob finishes a job as failed or cancelled, cancelling what remains.
func (a *applier) endJob(j *Job, state JobState, msg string) {
	for _, st := range j.Stages {
		for _, t := range st.Tasks {
			for _, at := range t.Live() {
				a.setAttempt(j, st, t, at, AttemptCancelled, "job "+state.String())
			}
			if !t.State.Terminal() {
				a.setTask(j, st, t, TaskCancelled)
			}
		}
		if !st.State.Terminal() {
			a.setStage(j, st, TaskCancelled)
		}
	}
	a.setJob(j, state, msg)
}

func (a *applier) setJob(j *Job, s JobState, msg string) {
	if !j.State.CanMove(s) {
		panic(fmt.Sprintf("engine: job %s cannot move from %s to %s", j.ID, j.State, s))
	}
	j.State, j.ModifyIndex = s, a.index
	if msg != "" {
		j.Error = msg
	}
	if s.Terminal() {
		j.Finished = a.now
	}
	a.event(Event{Time: a.now, Job: j.ID, Kind: KindJob, State: s.String(), Error: msg})
}

func (a *applier) setStage(j *Job, st *Stage, s TaskState) {
	if !st.State.CanMove(s) {
		panic(fmt.Sprintf("engine: stage %s/%s cannot move from %s to %s", j.ID, st.Name, st.State, s))
	}
	st.State, st.ModifyIndex = s, a.index
	a.event(Event{Time: a.now, Job: j.ID, Kind: KindStage, Stage: st.Name, State: s.String()})
}

func (a *applier) setTask(j *Job, st *Stage, t *TaskStatus, s TaskState) {
	if t.State == s {
		return // a retry keeps a running task running
	}
	if !t.State.CanMove(s) {
		panic(fmt.Sprintf("engine: task %s/%s/p%d cannot move from %s to %s", j.ID, st.Name, t.Partition, t.State, s))
	}
	t.State, t.ModifyIndex = s, a.index
	for st.First < len(st.Tasks) && st.Tasks[st.First].State.Terminal() {
		st.First++
	}
	ev := Event{Time: a.now, Job: j.ID, Kind: KindTask, Stage: st.Name, Partition: t.Partition, State: s.String()}
	if s == TaskCommitted {
		ev.Attempt, ev.Outputs = t.Committed, t.Outputs
	}
	a.event(ev)
}

func (a *applier) setAttempt(j *Job, st *Stage, t *TaskStatus, at *Attempt, s AttemptState, msg string) {
	if !at.State.CanMove(s) {
		panic(fmt.Sprintf("engine: attempt %s/%s/p%d/a%d cannot move from %s to %s", j.ID, st.Name, t.Partition, at.Num, at.State, s))
	}
	at.State, at.ModifyIndex = s, a.index
	if msg != "" {
		at.Error = msg
	}
	if s.Terminal() {
		// The attempt leaves its executor: give back what it held.
		at.Finished = a.now
		if e := a.s.Executors[at.Executor]; e != nil {
			e.Used = e.Used.Sub(j.Spec.Stage(st.Name).Resources)
			e.Running--
			e.Finished++
			e.ModifyIndex = a.index
		}
	}
	t.ModifyIndex = a.index
	a.attemptEvent(j.ID, st.Name, t.Partition, at)
}

func (a *applier) attemptEvent(job, stage string, partition int, at *Attempt) {
	a.event(Event{Time: a.now, Job: job, Kind: KindAttempt, Stage: stage, Partition: partition,
		Attempt: at.Num, State: at.State.String(), Executor: at.Executor, Speculative: at.Speculative,
		Error: at.Error, LostInput: at.LostInput, Counters: at.Counters, LogTail: at.LogTail, Problems: at.Problems})
}

func (a *applier) event(e Event) {
	e.Index = a.index
	a.r.Events = append(a.r.Events, e)
}
