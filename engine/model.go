package engine

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// AttemptID names one attempt of one task. Attempts are numbered from 1.
type AttemptID struct {
	Job       string `json:"job"`
	Stage     string `json:"stage"`
	Partition int    `json:"partition"`
	Attempt   int    `json:"attempt"`
}

func (a AttemptID) String() string {
	return fmt.Sprintf("%s/%s/p%d/a%d", a.Job, a.Stage, a.Partition, a.Attempt)
}

// Output is one object an attempt wrote: Name is what the operator called
// it, Key where it lies in the bucket.
type Output struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// InputRef names one partition of an upstream stage: the task whose
// committed output an attempt read.
type InputRef struct {
	Stage     string `json:"stage"`
	Partition int    `json:"partition"`
}

func (r InputRef) String() string { return fmt.Sprintf("%s/p%d", r.Stage, r.Partition) }

// Attempt is one try at running a task.
type Attempt struct {
	Num         int              `json:"num"`
	Executor    string           `json:"executor"`
	State       AttemptState     `json:"state"`
	Speculative bool             `json:"speculative,omitempty"`
	Assigned    time.Time        `json:"assigned"`
	Started     time.Time        `json:"started,omitzero"`
	Finished    time.Time        `json:"finished,omitzero"`
	Error       string           `json:"error,omitempty"`
	Fatal       bool             `json:"fatal,omitempty"`
	Counters    map[string]int64 `json:"counters,omitempty"`
	// Problems are the input problems the attempt skipped past
	// (Task.Problem).
	Problems []string `json:"problems,omitempty"`
	LogTail  string   `json:"log_tail,omitempty"`
	// LostInput is set when the attempt failed because an upstream
	// task's committed output was gone: that task was re-opened, and the
	// failure does not count against MaxAttempts.
	LostInput *InputRef `json:"lost_input,omitempty"`
	// CreateIndex is the log index that assigned the attempt.
	CreateIndex uint64 `json:"create_index,omitempty"`
	ModifyIndex uint64 `json:"modify_index"`
}

// TaskStatus is the state machine's record of a task: one partition of a stage.
type TaskStatus struct {
	Partition int        `json:"partition"`
	State     TaskState  `json:"state"`
	Attempts  []*Attempt `json:"attempts,omitempty"`
	// Failures counts failed attempts (lost ones excluded).
	Failures int `json:"failures,omitempty"`
	// Grant is the attempt authorised to commit (0: none). It is released
	// when that attempt dies before committing, so another can commit.
	Grant int `json:"grant,omitempty"`
	// Committed is the attempt whose output is the task's output (0: none).
	Committed int      `json:"committed,omitempty"`
	Outputs   []Output `json:"outputs,omitempty"`
	// CommitIndex is the log index at which Committed committed.
	CommitIndex uint64 `json:"commit_index,omitempty"`
	// Reopened counts how many times the committed output was lost and
	// the task re-opened for another attempt (see CanReopen).
	Reopened    int    `json:"reopened,omitempty"`
	ModifyIndex uint64 `json:"modify_index"`
}

// LiveCount counts the attempts that still hold an executor slot.
func (t *TaskStatus) LiveCount() int {
	n := 0
	for _, a := range t.Attempts {
		if a.State.Live() {
			n++
		}
	}
	return n
}

// Live returns the attempts that still hold an executor slot.
func (t *TaskStatus) Live() []*Attempt {
	var live []*Attempt
	for _, a := range t.Attempts {
		if a.State.Live() {
			live = append(live, a)
		}
	}
	return live
}

// Attempt returns attempt number n, or nil.
func (t *TaskStatus) Attempt(n int) *Attempt {
	if n < 1 || n > len(t.Attempts) {
		return nil
	}
	return t.Attempts[n-1]
}

// Stage is the runtime state of one stage of a job.
type Stage struct {
	Name  string        `json:"name"`
	State TaskState     `json:"state"`
	Tasks []*TaskStatus `json:"tasks"`
	Done  int           `json:"done"` // committed tasks
	// First is the lowest partition whose task is not finished, where the
	// scheduler starts: it grows as tasks finish, and drops back only when
	// a committed task is re-opened (its output was lost).
	First       int    `json:"first"`
	ModifyIndex uint64 `json:"modify_index"`
}

// Job is the runtime state of a submitted job.
type Job struct {
	ID             string    `json:"id"`
	Spec           JobSpec   `json:"spec"`
	State          JobState  `json:"state"`
	Error          string    `json:"error,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Submitted      time.Time `json:"submitted"`
	Finished       time.Time `json:"finished,omitzero"`
	Stages         []*Stage  `json:"stages"`
	CreateIndex    uint64    `json:"create_index"`
	ModifyIndex    uint64    `json:"modify_index"`
}

// newJob builds the runtime state for a validated spec.
func newJob(id string, spec JobSpec, submitted time.Time) *Job {
	j := &Job{ID: id, Spec: spec, Submitted: submitted}
	for _, ss := range spec.Stages {
		st := &Stage{Name: ss.Name, State: TaskWaiting}
		if len(ss.Upstream) == 0 {
			st.State = TaskReady
		}
		for p := 0; p < ss.Partitions; p++ {
			st.Tasks = append(st.Tasks, &TaskStatus{Partition: p, State: st.State})
		}
		j.Stages = append(j.Stages, st)
	}
	return j
}

// Stage returns the named stage, or nil.
func (j *Job) Stage(name string) *Stage {
	for _, s := range j.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Task returns the task of a stage's partition, or nil.
func (j *Job) Task(stage string, partition int) *TaskStatus {
	s := j.Stage(stage)
	if s == nil || partition < 0 || partition >= len(s.Tasks) {
		return nil
	}
	return s.Tasks[partition]
}

// UpstreamCommitted reports whether every upstream stage of stage is
// committed, so that its tasks may run: a re-opened upstream task holds
// them back until it commits again.
func (j *Job) UpstreamCommitted(stage string) bool {
	for _, up := range j.Spec.Stage(stage).Upstream {
		if j.Stage(up).State != TaskCommitted {
			return false
		}
	}
	return true
}

// Counts returns how many tasks of the job are in each state.
func (j *Job) Counts() map[TaskState]int {
	c := map[TaskState]int{}
	for _, s := range j.Stages {
		for _, t := range s.Tasks {
			c[t.State]++
		}
	}
	return c
}

// ExecutorStatus is an executor as the state machine knows it.
type ExecutorStatus struct {
	ID        string    `json:"id"`
	Resources Resources `json:"resources"`
	Used      Resources `json:"used"`
	// Holds are locality keys of inputs the executor has loaded.
	Holds       []string  `json:"holds,omitempty"`
	Alive       bool      `json:"alive"`
	Registered  time.Time `json:"registered"`
	Running     int       `json:"running"`
	Finished    int       `json:"finished"`
	ModifyIndex uint64    `json:"modify_index"`
}

// Free is what the executor can still give.
func (e *ExecutorStatus) Free() Resources { return e.Resources.Sub(e.Used) }

// HoldsKey reports whether the executor advertises locality key k.
func (e *ExecutorStatus) HoldsKey(k string) bool { return k != "" && slices.Contains(e.Holds, k) }

// State is everything the state machine records.
type State struct {
	Index     uint64                     `json:"index"`
	Jobs      map[string]*Job            `json:"jobs"`
	JobOrder  []string                   `json:"job_order"`
	Executors map[string]*ExecutorStatus `json:"executors"`
	// Keys maps submit idempotency keys to job IDs, the IDs of forgotten
	// jobs included (see Retention).
	Keys map[string]string `json:"keys"`
	// ForgottenKeys are the keys in Keys whose jobs were forgotten, with
	// when: CmdForgetJobs drops them after Retention.MaxAge.
	ForgottenKeys map[string]time.Time `json:"forgotten_keys,omitempty"`
}

func newState() *State {
	return &State{Jobs: map[string]*Job{}, Executors: map[string]*ExecutorStatus{}, Keys: map[string]string{},
		ForgottenKeys: map[string]time.Time{}}
}

// ExecutorIDs returns the executor IDs in order.
func (s *State) ExecutorIDs() []string {
	ids := make([]string, 0, len(s.Executors))
	for id := range s.Executors {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// CheckCommittedOnce returns an error naming every task of a finished job
// that does not have exactly one committed attempt (one more per
// re-opening), the last the one the task names, with outputs outputs
// (negative: any number). It is the
// exactly-once invariant the engine keeps whatever the faults.
func (j *Job) CheckCommittedOnce(outputs int) error {
	var errs []error
	for _, st := range j.Stages {
		for _, t := range st.Tasks {
			committed := 0
			for _, a := range t.Attempts {
				if a.State == AttemptCommitted {
					committed++
				}
			}
			// A task re-opened because its committed output was lost
			// later keeps the earlier commits in its history.
			if committed != 1+t.Reopened || t.Committed == 0 || t.Attempts[t.Committed-1].State != AttemptCommitted {
				errs = append(errs, fmt.Errorf("%s/p%d: %d committed attempts (re-opened %d times), the task names attempt %d",
					st.Name, t.Partition, committed, t.Reopened, t.Committed))
			} else if outputs >= 0 && len(t.Outputs) != outputs {
				errs = append(errs, fmt.Errorf("%s/p%d: %d outputs, want %d", st.Name, t.Partition, len(t.Outputs), outputs))
			}
		}
	}
	return errors.Join(errs...)
}
