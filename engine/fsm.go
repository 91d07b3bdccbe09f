package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// CommandType is the first byte of every command applied to the FSM; the
// rest is the command's JSON body.
type CommandType byte

const (
	CmdSubmitJob CommandType = iota + 1
	CmdCancelJob
	CmdRegisterExecutor
	CmdExecutorLost
	CmdPlan
	CmdReports
	CmdAuthorizeCommit
	CmdJobManifest
	// CmdBatch carries many commands in one log entry, applied in order
	// under one index: the way to commit thousands of changes a second.
	CmdBatch
	// CmdForgetJobs removes finished jobs from the state (ForgetJobs).
	CmdForgetJobs
)

// SubmitJob adds a job. A repeated IdempotencyKey returns the first job.
type SubmitJob struct {
	ID             string    `json:"id"`
	Spec           JobSpec   `json:"spec"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Time           time.Time `json:"time"`
}

// CancelJob stops a job: its unfinished tasks and live attempts are cancelled.
type CancelJob struct {
	ID     string    `json:"id"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// RegisterExecutor adds or refreshes an executor.
type RegisterExecutor struct {
	ID        string    `json:"id"`
	Resources Resources `json:"resources"`
	Holds     []string  `json:"holds,omitempty"`
	Time      time.Time `json:"time"`
}

// ExecutorLost marks an executor dead: its live attempts are lost and
// their tasks run again elsewhere.
type ExecutorLost struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// Assignment puts one attempt of a task on an executor.
type Assignment struct {
	Attempt     AttemptID `json:"attempt"`
	Executor    string    `json:"executor"`
	Speculative bool      `json:"speculative,omitempty"`
}

// Plan is what the scheduler decided: the applier re-checks every
// assignment against the latest state and drops stale ones.
type Plan struct {
	Assignments []Assignment `json:"assignments"`
	Time        time.Time    `json:"time"`
}

// Report is an executor's news about an attempt: it started (Running),
// finished and asks to commit its Outputs (Committed), failed, or stopped
// because the commit registry denied it the grant (Cancelled: no failure
// is counted). A failed attempt whose error wrapped LostInput names the
// upstream task whose committed output it could not read (LostInput):
// applying the report re-opens that task instead of counting a failure.
type Report struct {
	Attempt   AttemptID        `json:"attempt"`
	State     AttemptState     `json:"state"`
	Time      time.Time        `json:"time"`
	Outputs   []Output         `json:"outputs,omitempty"`
	Error     string           `json:"error,omitempty"`
	Fatal     bool             `json:"fatal,omitempty"`
	LostInput *InputRef        `json:"lost_input,omitempty"`
	Counters  map[string]int64 `json:"counters,omitempty"`
	LogTail   string           `json:"log_tail,omitempty"`
	// Problems are the input problems the attempt skipped past.
	Problems []string `json:"problems,omitempty"`
}

// Reports is a batch of reports.
type Reports struct {
	Reports []Report `json:"reports"`
}

// AuthorizeCommit asks the commit registry whether an attempt may commit.
type AuthorizeCommit struct {
	Attempt AttemptID `json:"attempt"`
}

// JobManifest records that the job manifest is written, so the job
// succeeded; or, with Error, that it could not be, so the job failed.
type JobManifest struct {
	ID    string    `json:"id"`
	Error string    `json:"error,omitempty"`
	Time  time.Time `json:"time"`
}

// Encode makes a command: its type byte, then its JSON body.
func Encode(t CommandType, body any) []byte {
	data, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("engine: encode command %d: %v", t, err)) // only our own types are encoded
	}
	return append([]byte{byte(t)}, data...)
}

// EncodeBatch packs commands into one CmdBatch command.
func EncodeBatch(cmds ...[]byte) []byte { return Encode(CmdBatch, cmds) }

// Result is what applying one command produced.
type Result struct {
	Index uint64
	// Events are the changes the command made, in order.
	Events []Event
	// Rejected explains each part of the command that was refused
	// (stale plan entries, superseded reports, denied commits).
	Rejected []string
	// Granted answers CmdAuthorizeCommit.
	Granted bool
	// JobID answers CmdSubmitJob (the existing job on a repeated key).
	JobID string
	// Forgotten lists the jobs CmdForgetJobs removed.
	Forgotten []string
	// Err is set when the whole command was refused.
	Err error
}

// ErrUnknownCommand is returned for a command type this FSM does not know.
var ErrUnknownCommand = errors.New("unknown command type")

// FSM is the replicated state machine. Apply must see commands in log
// order; it is safe for concurrent readers (Read, Snapshot).
type FSM struct {
	mu    sync.RWMutex
	state *State
}

// NewFSM returns an empty state machine.
func NewFSM() *FSM { return &FSM{state: newState()} }

// Read runs f with the state under a read lock; f must not modify or keep it.
func (f *FSM) Read(fn func(*State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Apply applies the command at log index. It never fails half-way: a
// refused command or part is reported in the result and changes nothing.
func (f *FSM) Apply(index uint64, cmd []byte) *Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &Result{Index: index}
	if index <= f.state.Index {
		r.Err = fmt.Errorf("index %d already applied (at %d)", index, f.state.Index)
		return r
	}
	f.state.Index = index
	a := applier{s: f.state, index: index, r: r}
	if err := a.apply(cmd); err != nil {
		r.Err = err
	}
	return r
}

// Snapshot writes the whole state as JSON.
func (f *FSM) Snapshot(w io.Writer) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return json.NewEncoder(w).Encode(f.state)
}

// Restore replaces the state with a snapshot.
func (f *FSM) Restore(r io.Reader) error {
	s := newState()
	if err := json.NewDecoder(r).Decode(s); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if s.ForgottenKeys == nil {
		s.ForgottenKeys = map[string]time.Time{} // a snapshot from before retention
	}
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	return nil
}

// Index is the last applied log index.
func (f *FSM) Index() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Index
}
