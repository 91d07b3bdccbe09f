package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/celebrity-zones/cz/store"
)

// Operator is the code a stage runs for each of its tasks. It reads its
// inputs through t, writes its outputs with t.Output or t.Put (to keys
// scoped to the attempt, published only when the attempt commits), and
// returns nil, a retryable error, or Fatal(err) for an error that another
// attempt would repeat. It may also write side effects to deterministic
// keys, as idempotent overwrites: it may run more than once.
type Operator func(ctx context.Context, t *Task) error

var (
	opsMu sync.RWMutex
	ops   = map[string]Operator{}
)

// Register makes an operator available to job specs under name. It panics
// on a repeated name: registration happens in init functions.
func Register(name string, op Operator) {
	opsMu.Lock()
	defer opsMu.Unlock()
	if _, dup := ops[name]; dup {
		panic("engine: operator " + name + " registered twice")
	}
	ops[name] = op
}

// Lookup returns the operator registered under name, or nil.
func Lookup(name string) Operator {
	opsMu.RLock()
	defer opsMu.RUnlock()
	return ops[name]
}

// Operators lists the registered operator names.
func Operators() []string {
	opsMu.RLock()
	defer opsMu.RUnlock()
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// fatalError marks an error that retrying cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return "fatal: " + e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// Fatal marks err as fatal: the task is not retried and the job fails.
// Any other error is retryable, up to the job's MaxAttempts.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err}
}

// IsFatal reports whether err was marked with Fatal.
func IsFatal(err error) bool {
	var f *fatalError
	return errors.As(err, &f)
}

// lostInputError says an upstream task's committed output is gone.
type lostInputError struct {
	in  InputRef
	err error
}

func (e *lostInputError) Error() string { return e.err.Error() }
func (e *lostInputError) Unwrap() error { return e.err }

// LostInput marks err as "the committed output of partition of upstream
// stage is gone" (a served shuffle block whose executor dropped it). The
// attempt fails without counting against MaxAttempts; the engine re-opens
// that upstream task (a new attempt recomputes the output) and runs this
// task again once it has committed.
func LostInput(stage string, partition int, err error) error {
	if err == nil {
		err = fmt.Errorf("committed output of %s/p%d is lost", stage, partition)
	}
	return &lostInputError{in: InputRef{Stage: stage, Partition: partition}, err: err}
}

// IsLostInput returns the upstream task named by a LostInput error in err.
func IsLostInput(err error) (InputRef, bool) {
	var l *lostInputError
	if errors.As(err, &l) {
		return l.in, true
	}
	return InputRef{}, false
}

// TaskSpec is everything an executor needs to run one attempt; it is
// plain data so it can cross a network.
type TaskSpec struct {
	Attempt    AttemptID         `json:"attempt"`
	Operator   string            `json:"operator"`
	Partitions int               `json:"partitions"`
	Params     map[string]string `json:"params,omitempty"`
	Resources  Resources         `json:"resources"`
	Locality   string            `json:"locality,omitempty"`
	// Inputs holds, per upstream stage, each partition's committed outputs.
	Inputs map[string][][]Output `json:"inputs,omitempty"`
}

// taskSpec builds the TaskSpec of an assigned attempt from the state.
func taskSpec(j *Job, id AttemptID) TaskSpec {
	ss := j.Spec.Stage(id.Stage)
	params := map[string]string{}
	for k, v := range j.Spec.Params {
		params[k] = v
	}
	for k, v := range ss.Params {
		params[k] = v
	}
	ts := TaskSpec{Attempt: id, Operator: ss.Operator, Partitions: ss.Partitions, Params: params, Resources: ss.Resources}
	if len(ss.Locality) > 0 {
		ts.Locality = ss.Locality[id.Partition]
	}
	for _, up := range ss.Upstream {
		if ts.Inputs == nil {
			ts.Inputs = map[string][][]Output{}
		}
		var parts [][]Output
		for _, t := range j.Stage(up).Tasks {
			parts = append(parts, t.Outputs)
		}
		ts.Inputs[up] = parts
	}
	return ts
}

// TaskSpecFor builds the TaskSpec of an attempt of j from the state (a
// new leader re-sends the live attempts of a reconnecting executor).
func TaskSpecFor(j *Job, id AttemptID) TaskSpec { return taskSpec(j, id) }

// AttemptPrefix is the folder of an attempt's outputs. Nothing reads it
// directly: committed outputs are found through the task's Outputs and
// the manifests.
func AttemptPrefix(id AttemptID) string {
	return fmt.Sprintf("jobs/%s/%s/attempts/p%05d-a%d/", id.Job, id.Stage, id.Partition, id.Attempt)
}

// Task is an attempt's view of its work, handed to the operator.
type Task struct {
	// ID names the job, stage, partition and attempt.
	ID AttemptID
	// Partition and Partitions: this task is Partition of Partitions.
	Partition, Partitions int
	// Params are the job's params overridden by the stage's.
	Params map[string]string
	// Locality is the partition's locality key, if the stage declares one.
	Locality string
	// Bucket is the object store.
	Bucket store.Bucket
	// Log is the attempt's logger; its last lines show on the status page.
	Log *slog.Logger

	spec     TaskSpec
	mu       sync.Mutex
	outputs  []Output
	counters map[string]int64
	problems []string
	open     int
	// authorize asks the commit registry (Authorize); nil outside an engine.
	authorize Authorizer
}

// Param returns a parameter, or "" when it is not set.
func (t *Task) Param(name string) string { return t.Params[name] }

// Inputs returns the committed outputs of an upstream stage, every
// partition in order.
func (t *Task) Inputs(stage string) []Output {
	var all []Output
	for _, p := range t.spec.Inputs[stage] {
		all = append(all, p...)
	}
	return all
}

// InputsOf returns the committed outputs of one partition of an upstream
// stage.
func (t *Task) InputsOf(stage string, partition int) []Output {
	parts := t.spec.Inputs[stage]
	if partition < 0 || partition >= len(parts) {
		return nil
	}
	return parts[partition]
}

// Open reads an input.
func (t *Task) Open(ctx context.Context, o Output) (io.ReadCloser, error) {
	return t.Bucket.Get(ctx, o.Key)
}

// ReadInput reads a whole input.
func (t *Task) ReadInput(ctx context.Context, o Output) ([]byte, error) {
	return store.ReadAll(ctx, t.Bucket, o.Key)
}

// Put writes a whole output.
func (t *Task) Put(ctx context.Context, name string, data []byte) error {
	key, err := t.outputKey(name)
	if err != nil {
		return err
	}
	if err := store.PutBytes(ctx, t.Bucket, key, data); err != nil {
		return err
	}
	t.addOutput(Output{Name: name, Key: key, Size: int64(len(data))})
	return nil
}

// Output opens an output for streaming; it is written when Close returns nil.
func (t *Task) Output(ctx context.Context, name string) (io.WriteCloser, error) {
	key, err := t.outputKey(name)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &outputWriter{pw: pw, done: make(chan error, 1)}
	t.mu.Lock()
	t.open++
	t.mu.Unlock()
	go func() {
		err := t.Bucket.Put(ctx, key, pr)
		pr.CloseWithError(err)
		w.done <- err
	}()
	w.finish = func(err error) {
		t.mu.Lock()
		t.open--
		t.mu.Unlock()
		if err == nil {
			t.addOutput(Output{Name: name, Key: key, Size: w.n})
		}
	}
	return w, nil
}

type outputWriter struct {
	pw     *io.PipeWriter
	n      int64
	done   chan error
	finish func(error)
	closed bool
}

func (w *outputWriter) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *outputWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.pw.Close()
	err := <-w.done
	w.finish(err)
	return err
}

func (t *Task) outputKey(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return "", fmt.Errorf("output name %q: want a relative name without ..", name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, o := range t.outputs {
		if o.Name == name {
			return "", fmt.Errorf("output %q written twice", name)
		}
	}
	return AttemptPrefix(t.ID) + name, nil
}

func (t *Task) addOutput(o Output) {
	t.mu.Lock()
	t.outputs = append(t.outputs, o)
	t.mu.Unlock()
}

// Count adds n to a named counter shown on the status page.
func (t *Task) Count(name string, n int64) {
	t.mu.Lock()
	if t.counters == nil {
		t.counters = map[string]int64{}
	}
	t.counters[name] += n
	t.mu.Unlock()
}

// MaxProblems bounds the input problems one attempt reports; the rest
// are counted in a last line.
const MaxProblems = 50

// Problem records a problem with the task's input that the operator
// skipped past (a bad row, a corrupt video, a missing photo): it names
// the file, line or field and what was expected. Problems show on the
// status page and in the job's API with the committed attempt; they do
// not fail the task.
func (t *Task) Problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.Count("input_problems", 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch n := len(t.problems); {
	case n < MaxProblems:
		t.problems = append(t.problems, msg)
	case n == MaxProblems:
		t.problems = append(t.problems, "and more: see the attempt's outputs")
	}
}

// RunAttempt runs one attempt of a task to its end and returns the report
// that asks to commit its outputs, or says why it failed. Executors call
// it; it recovers operator panics as fatal errors. Its operator has no
// commit registry (Task.Authorize fails): executors use RunAttemptWith.
func RunAttempt(ctx context.Context, b store.Bucket, spec TaskSpec, logger *slog.Logger) Report {
	return RunAttemptWith(ctx, b, spec, logger, nil)
}

// RunAttemptWith is RunAttempt whose operator asks authorize for the
// commit grant (Task.Authorize). An attempt denied the grant ends
// cancelled, not failed.
func RunAttemptWith(ctx context.Context, b store.Bucket, spec TaskSpec, logger *slog.Logger, authorize Authorizer) Report {
	rep := Report{Attempt: spec.Attempt}
	tail := &logTail{max: 20}
	if logger == nil {
		logger = slog.Default()
	}
	t := &Task{
		ID: spec.Attempt, Partition: spec.Attempt.Partition, Partitions: spec.Partitions,
		Params: spec.Params, Locality: spec.Locality, Bucket: b, spec: spec, authorize: authorize,
		Log: slog.New(teeHandler{logger.Handler(), slog.NewTextHandler(tail, &slog.HandlerOptions{Level: slog.LevelDebug})}).
			With("attempt", spec.Attempt.String()),
	}
	err := runOperator(ctx, t, spec.Operator)
	if err == nil && t.open > 0 {
		err = fmt.Errorf("operator %s left %d outputs open: Close them before returning", spec.Operator, t.open)
	}
	rep.Time = time.Now()
	t.mu.Lock()
	rep.Counters = t.counters
	rep.Outputs = t.outputs
	rep.Problems = t.problems
	t.mu.Unlock()
	if err != nil && IsCommitDenied(err) && !IsFatal(err) {
		// Another attempt holds the grant or committed: this one stops,
		// without its side effect and without counting a failure.
		rep.State, rep.Error, rep.Outputs = AttemptCancelled, err.Error(), nil
		t.Log.Info("attempt denied the commit grant", "err", err)
	} else if err != nil {
		rep.State, rep.Error, rep.Fatal, rep.Outputs = AttemptFailed, err.Error(), IsFatal(err), nil
		if in, ok := IsLostInput(err); ok && !rep.Fatal {
			rep.LostInput = &in
		}
		t.Log.Warn("attempt failed", "err", err)
	} else {
		rep.State = AttemptCommitted
	}
	rep.LogTail = tail.String()
	return rep
}

func runOperator(ctx context.Context, t *Task, name string) (err error) {
	op := Lookup(name)
	if op == nil {
		return Fatal(fmt.Errorf("operator %q is not registered in this executor", name))
	}
	defer func() {
		if p := recover(); p != nil {
			err = Fatal(fmt.Errorf("operator %s panicked: %v\n%s", name, p, debug.Stack()))
		}
	}()
	return op(ctx, t)
}

// logTail keeps the last max lines written to it.
type logTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		l.lines = append(l.lines, string(line))
	}
	if len(l.lines) > l.max {
		l.lines = l.lines[len(l.lines)-l.max:]
	}
	return len(p), nil
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// teeHandler sends records to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	if h.a.Enabled(ctx, r.Level) {
		errs = append(errs, h.a.Handle(ctx, r.Clone()))
	}
	if h.b.Enabled(ctx, r.Level) {
		errs = append(errs, h.b.Handle(ctx, r))
	}
	return errors.Join(errs...)
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}

func (h teeHandler) WithGroup(n string) slog.Handler {
	return teeHandler{h.a.WithGroup(n), h.b.WithGroup(n)}
}
