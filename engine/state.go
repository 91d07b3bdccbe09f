package engine

import "fmt"

// The states of jobs, stages, tasks and attempts are ordered integers
// whose order means progress: a state only moves to a greater one, and a
// terminal state never changes (checked by CanMove).
//
// One explicit exception, Reopen: when a downstream task reports that a
// committed task's output is lost (a served shuffle block whose executor
// dropped it), that task and its stage go from committed back to running,
// so that a new attempt can commit a new output. The event recording it is
// marked Reopened; CheckForward accepts exactly that move and then checks
// the object's states moving forward again from running.

// JobState is the state of a job.
type JobState int

const (
	JobRunning    JobState = iota
	JobCommitting          // every stage committed; the job manifest is being written
	JobSucceeded
	JobFailed
	JobCancelled
)

// TaskState is the state of a task: one partition of a stage.
type TaskState int

const (
	TaskWaiting   TaskState = iota // upstream stages not committed yet
	TaskReady                      // may be assigned
	TaskRunning                    // has had at least one attempt
	TaskCommitted                  // one attempt's output is committed
	TaskFailed                     // out of attempts, or a fatal error
	TaskCancelled
)

// AttemptState is the state of one attempt of a task.
type AttemptState int

const (
	AttemptAssigned  AttemptState = iota // planned onto an executor
	AttemptRunning                       // the executor started it
	AttemptCommitted                     // its output is the task's output
	AttemptFailed                        // the operator returned an error
	AttemptLost                          // its executor vanished
	AttemptCancelled                     // the job was cancelled, or another attempt committed first
)

var (
	jobStateNames     = []string{"running", "committing", "succeeded", "failed", "cancelled"}
	taskStateNames    = []string{"waiting", "ready", "running", "committed", "failed", "cancelled"}
	attemptStateNames = []string{"assigned", "running", "committed", "failed", "lost", "cancelled"}
)

func (s JobState) String() string     { return name(jobStateNames, int(s)) }
func (s TaskState) String() string    { return name(taskStateNames, int(s)) }
func (s AttemptState) String() string { return name(attemptStateNames, int(s)) }

// Terminal reports whether the job is finished.
func (s JobState) Terminal() bool { return s >= JobSucceeded }

// Terminal reports whether the task is finished.
func (s TaskState) Terminal() bool { return s >= TaskCommitted }

// Terminal reports whether the attempt is finished.
func (s AttemptState) Terminal() bool { return s >= AttemptCommitted }

// Live reports whether the attempt holds resources on an executor.
func (s AttemptState) Live() bool { return s < AttemptCommitted }

// CanMove reports whether a job may move from s to next.
func (s JobState) CanMove(next JobState) bool { return !s.Terminal() && next > s }

// CanMove reports whether a task may move from s to next.
func (s TaskState) CanMove(next TaskState) bool { return !s.Terminal() && next > s }

// CanReopen reports whether a task or stage in state s may be re-opened
// (moved back to TaskRunning because its committed output was lost): only
// a committed one may.
func (s TaskState) CanReopen() bool { return s == TaskCommitted }

// CanMove reports whether an attempt may move from s to next.
func (s AttemptState) CanMove(next AttemptState) bool { return !s.Terminal() && next > s }

func name(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("state(%d)", i)
}

func parse(names []string, s string) (int, error) {
	for i, n := range names {
		if n == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown state %q", s)
}

// States travel as their names in JSON (API, event log, snapshots).

func (s JobState) MarshalText() ([]byte, error)     { return []byte(s.String()), nil }
func (s TaskState) MarshalText() ([]byte, error)    { return []byte(s.String()), nil }
func (s AttemptState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *JobState) UnmarshalText(b []byte) error {
	i, err := parse(jobStateNames, string(b))
	*s = JobState(i)
	return err
}

func (s *TaskState) UnmarshalText(b []byte) error {
	i, err := parse(taskStateNames, string(b))
	*s = TaskState(i)
	return err
}

func (s *AttemptState) UnmarshalText(b []byte) error {
	i, err := parse(attemptStateNames, string(b))
	*s = AttemptState(i)
	return err
}
