package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/celebrity-zones/cz/store"
)

// Executor runs attempts. The in-process one lives in engine/local; a
// remote one speaks gRPC. Launch must not block: the executor runs the
// attempt (RunAttempt) and calls report with its news.
type Executor interface {
	ID() string
	Resources() Resources
	// Holds lists locality keys of inputs already loaded (such as shards).
	Holds() []string
	Launch(spec TaskSpec, report func(Report))
	// Kill stops an attempt if it still runs; its late reports are ignored.
	Kill(id AttemptID)
}

// Log puts commands in order and applies them to the FSM, returning the
// result: LocalLog in one process, Raft in a cluster. Its error means the
// log failed (not the leader, timed out); a command the FSM refused comes
// back as Result.Err.
type Log interface {
	Apply(cmd []byte) (*Result, error)
}

// LocalLog is the log of a single process: it numbers commands and
// applies them to its FSM at once.
type LocalLog struct {
	mu    sync.Mutex
	fsm   *FSM
	index uint64
}

// NewLocalLog returns a log applying to fsm.
func NewLocalLog(fsm *FSM) *LocalLog { return &LocalLog{fsm: fsm, index: fsm.Index()} }

// Apply applies cmd at the next index.
func (l *LocalLog) Apply(cmd []byte) (*Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.index++
	return l.fsm.Apply(l.index, cmd), nil
}

// Config configures an Engine.
type Config struct {
	// Bucket holds attempt outputs, manifests and event logs.
	Bucket store.Bucket
	// FSM and Log: by default a new FSM and a LocalLog over it.
	FSM *FSM
	Log Log
	// Scheduler tunes scheduling (DefaultSchedulerConfig when zero).
	Scheduler SchedulerConfig
	// Tick is how often the engine looks for stragglers and flushes event
	// logs without being woken (default 100ms).
	Tick time.Duration
	// Retention says when the leader forgets finished jobs (defaults:
	// 7 days, the newest 2000 kept, swept every minute; see Retention).
	Retention Retention
	Logger    *slog.Logger
}

// Engine is the leader-side machinery: it submits jobs, runs the
// scheduler, commits its plans, launches attempts on executors, feeds
// their reports back, writes manifests and event logs and sweeps.
type Engine struct {
	cfg     Config
	fsm     *FSM
	log     Log
	bucket  store.Bucket
	logger  *slog.Logger
	metrics *Metrics

	applyMu sync.Mutex // serialises apply+handle so events stay in order
	flushMu sync.Mutex

	mu        sync.Mutex
	executors map[string]Executor
	pending   []Report
	eventBuf  map[string][]Event // per job, not yet flushed
	done      map[string]chan struct{}
	finished  []string // jobs whose end is not yet handled
	manifests []string // jobs to write manifests for

	wake chan struct{}
}

// New returns an engine; call Run to start it.
func New(cfg Config) *Engine {
	if cfg.FSM == nil {
		cfg.FSM = NewFSM()
	}
	if cfg.Log == nil {
		cfg.Log = NewLocalLog(cfg.FSM)
	}
	if cfg.Scheduler == (SchedulerConfig{}) {
		cfg.Scheduler = DefaultSchedulerConfig
	}
	if cfg.Tick == 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Retention = cfg.Retention.withDefaults()
	return &Engine{
		cfg: cfg, fsm: cfg.FSM, log: cfg.Log, bucket: cfg.Bucket, logger: cfg.Logger,
		metrics:   newMetrics(cfg.FSM),
		executors: map[string]Executor{},
		eventBuf:  map[string][]Event{},
		done:      map[string]chan struct{}{},
		wake:      make(chan struct{}, 1),
	}
}

// FSM returns the engine's state machine (for read-only views).
func (e *Engine) FSM() *FSM { return e.fsm }

// Bucket returns the engine's object store.
func (e *Engine) Bucket() store.Bucket { return e.bucket }

// Metrics returns the engine's Prometheus metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// AddExecutor registers an executor with the state machine. An executor
// that runs attempts in this process (a CommitRegistryUser) gets the
// engine's commit registry for their Task.Authorize.
func (e *Engine) AddExecutor(ex Executor) error {
	if u, ok := ex.(CommitRegistryUser); ok {
		u.UseCommitRegistry(func(_ context.Context, id AttemptID) (bool, error) { return e.AuthorizeCommit(id) })
	}
	e.mu.Lock()
	e.executors[ex.ID()] = ex
	e.mu.Unlock()
	_, err := e.apply(Encode(CmdRegisterExecutor, RegisterExecutor{ID: ex.ID(), Resources: ex.Resources(), Holds: ex.Holds(), Time: time.Now()}))
	e.nudge()
	return err
}

// ExecutorLost declares an executor dead: its attempts run again elsewhere.
func (e *Engine) ExecutorLost(id string) error {
	e.mu.Lock()
	delete(e.executors, id)
	e.mu.Unlock()
	_, err := e.apply(Encode(CmdExecutorLost, ExecutorLost{ID: id, Time: time.Now()}))
	e.nudge()
	return err
}

// Submit validates and adds a job, returning its ID. A repeated non-empty
// idempotency key returns the first job's ID and adds nothing.
func (e *Engine) Submit(spec JobSpec, idempotencyKey string) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", fmt.Errorf("job spec: %w", err)
	}
	if err := e.checkFit(spec); err != nil {
		return "", err
	}
	id := NewJobID(spec.Name, time.Now())
	e.mu.Lock()
	e.done[id] = make(chan struct{})
	e.mu.Unlock()
	r, err := e.apply(Encode(CmdSubmitJob, SubmitJob{ID: id, Spec: spec, IdempotencyKey: idempotencyKey, Time: time.Now()}))
	if err != nil {
		return "", err
	}
	if r.JobID != id {
		e.mu.Lock()
		delete(e.done, id)
		e.mu.Unlock()
	}
	e.nudge()
	return r.JobID, nil
}

// checkFit refuses a job with a stage that no registered executor could
// ever run (a GPU stage and no GPU, say), which would otherwise wait
// forever. With no executors registered yet, it accepts anything.
func (e *Engine) checkFit(spec JobSpec) error {
	var offers []Resources
	e.fsm.Read(func(s *State) {
		for _, x := range s.Executors {
			if x.Alive {
				offers = append(offers, x.Resources)
			}
		}
	})
	if len(offers) == 0 {
		return nil
	}
	for i, st := range spec.Stages {
		fits := false
		for _, o := range offers {
			fits = fits || o.Fits(st.Resources)
		}
		if !fits {
			return fmt.Errorf("job spec: stages[%d].resources: %s fits on none of the %d executors (%v)", i, st.Resources, len(offers), offers)
		}
	}
	return nil
}

// AuthorizeCommit asks the commit registry whether an attempt may commit
// (for executors that must know before a side effect); see authorize.
func (e *Engine) AuthorizeCommit(id AttemptID) (bool, error) {
	r, err := e.apply(Encode(CmdAuthorizeCommit, AuthorizeCommit{Attempt: id}))
	if err != nil {
		return false, err
	}
	return r.Granted, nil
}

// Cancel cancels a job.
func (e *Engine) Cancel(id, reason string) error {
	_, err := e.apply(Encode(CmdCancelJob, CancelJob{ID: id, Reason: reason, Time: time.Now()}))
	e.nudge()
	return err
}

// Wait blocks until the job has finished and its event log is written,
// then returns its final record (from the store when the state machine
// has forgotten the job: Lookup).
func (e *Engine) Wait(ctx context.Context, id string) (*Job, error) {
	e.mu.Lock()
	ch, ok := e.done[id]
	if !ok {
		// A job submitted elsewhere (another caller, a repeated key):
		// finish closes the channel if the job is still running now.
		if j := e.Job(id); j != nil && !j.State.Terminal() {
			ch, ok = make(chan struct{}), true
			e.done[id] = ch
		}
	}
	e.mu.Unlock()
	if ok {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	j, err := e.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if !j.State.Terminal() {
		return nil, fmt.Errorf("job %s is %s", id, j.State)
	}
	return j, nil
}

// Job returns a copy of a job's record, or nil.
func (e *Engine) Job(id string) *Job {
	var j *Job
	e.fsm.Read(func(s *State) {
		if src := s.Jobs[id]; src != nil {
			j = clone(src)
		}
	})
	return j
}

// Jobs returns copies of every job's record, oldest first.
func (e *Engine) Jobs() []*Job {
	var jobs []*Job
	e.fsm.Read(func(s *State) {
		for _, id := range s.JobOrder {
			jobs = append(jobs, clone(s.Jobs[id]))
		}
	})
	return jobs
}

// Executors returns copies of the executors' records.
func (e *Engine) Executors() []*ExecutorStatus {
	var out []*ExecutorStatus
	e.fsm.Read(func(s *State) {
		for _, id := range s.ExecutorIDs() {
			x := *s.Executors[id]
			out = append(out, &x)
		}
	})
	return out
}

func clone[T any](v *T) *T {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		panic(err)
	}
	return out
}

// Run drives the engine until ctx ends. In a cluster only the leader runs
// it; a new leader picks up where the state machine says the last one
// stopped (manifests of committing jobs, waiters of finished ones).
func (e *Engine) Run(ctx context.Context) error {
	e.fsm.Read(func(s *State) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, id := range s.JobOrder {
			if s.Jobs[id].State == JobCommitting {
				e.manifests = append(e.manifests, id)
			}
		}
	})
	e.nudge()
	tick := time.NewTicker(e.cfg.Tick)
	defer tick.Stop()
	retained := make(chan struct{})
	defer func() { <-retained }()
	go func() {
		defer close(retained)
		e.retain(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			e.flushEvents(context.WithoutCancel(ctx))
			return ctx.Err()
		case <-e.wake:
		case <-tick.C:
			e.flushEvents(ctx)
		}
		if err := e.step(ctx); err != nil {
			return err
		}
	}
}

func (e *Engine) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Report hands an executor's news about an attempt to the engine; it
// never blocks. Launch passes it to executors; a remote executor that
// reconnects after a leader change calls it directly.
func (e *Engine) Report(r Report) {
	e.mu.Lock()
	e.pending = append(e.pending, r)
	e.mu.Unlock()
	e.nudge()
}

// step commits pending reports, plans and launches, and finishes jobs.
func (e *Engine) step(ctx context.Context) error {
	e.mu.Lock()
	reports := e.pending
	e.pending = nil
	e.mu.Unlock()
	if len(reports) > 0 {
		if err := e.commit(Encode(CmdReports, Reports{Reports: reports})); err != nil {
			return err
		}
	}
	var plan Plan
	e.fsm.Read(func(s *State) { plan = Schedule(s, time.Now(), e.cfg.Scheduler) })
	if len(plan.Assignments) > 0 {
		e.metrics.planned.Add(float64(len(plan.Assignments)))
		if err := e.commit(Encode(CmdPlan, plan)); err != nil {
			return err
		}
	}
	e.mu.Lock()
	manifests, finished := e.manifests, e.finished
	e.manifests, e.finished = nil, nil
	e.mu.Unlock()
	for _, id := range manifests {
		if err := e.writeManifests(ctx, id); err != nil {
			e.logger.Error("write manifests", "job", id, "err", err)
			if err := e.commit(Encode(CmdJobManifest, JobManifest{ID: id, Error: err.Error(), Time: time.Now()})); err != nil {
				return err
			}
			continue
		}
		if err := e.commit(Encode(CmdJobManifest, JobManifest{ID: id, Time: time.Now()})); err != nil {
			return err
		}
	}
	e.mu.Lock()
	finished = append(finished, e.finished...)
	e.finished = nil
	e.mu.Unlock()
	for _, id := range finished {
		e.finish(ctx, id)
	}
	return nil
}

// apply commits a command through the log and acts on its events.
func (e *Engine) apply(cmd []byte) (*Result, error) {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	r, err := e.log.Apply(cmd)
	if err != nil {
		return nil, err
	}
	e.metrics.index.Set(float64(r.Index))
	for _, msg := range r.Rejected {
		e.logger.Debug("refused", "index", r.Index, "why", msg)
	}
	e.handle(r.Events)
	return r, r.Err
}

// commit applies a command of the engine's own loop: a refusal is logged
// (the state moved on), only a failed log stops the loop.
func (e *Engine) commit(cmd []byte) error {
	r, err := e.apply(cmd)
	if r == nil {
		return err
	}
	if err != nil {
		e.logger.Warn("command refused", "index", r.Index, "err", err)
	}
	return nil
}

// handle acts on the changes a command made: launches, kills, manifests,
// finished jobs, event logs and metrics.
func (e *Engine) handle(events []Event) {
	var launch []AttemptID
	e.mu.Lock()
	for _, ev := range events {
		e.eventBuf[ev.Job] = append(e.eventBuf[ev.Job], ev)
		switch ev.Kind {
		case KindAttempt:
			e.metrics.attempts.WithLabelValues(ev.State).Inc()
			id := AttemptID{Job: ev.Job, Stage: ev.Stage, Partition: ev.Partition, Attempt: ev.Attempt}
			switch ev.State {
			case AttemptAssigned.String():
				launch = append(launch, id)
			case AttemptCancelled.String():
				if ex := e.executors[ev.Executor]; ex != nil {
					ex.Kill(id)
				}
			}
		case KindJob:
			e.metrics.jobs.WithLabelValues(ev.State).Inc()
			switch ev.State {
			case JobCommitting.String():
				e.manifests = append(e.manifests, ev.Job)
			case JobSucceeded.String(), JobFailed.String(), JobCancelled.String():
				e.finished = append(e.finished, ev.Job)
			}
		}
	}
	e.mu.Unlock()
	if len(launch) == 0 {
		return
	}
	specs := make([]TaskSpec, 0, len(launch))
	execs := make([]string, 0, len(launch))
	e.fsm.Read(func(s *State) {
		for _, id := range launch {
			j := s.Jobs[id.Job]
			specs = append(specs, taskSpec(j, id))
			execs = append(execs, j.Task(id.Stage, id.Partition).Attempt(id.Attempt).Executor)
		}
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, spec := range specs {
		if ex := e.executors[execs[i]]; ex != nil {
			ex.Launch(spec, e.Report)
		} else {
			// The executor left between plan and launch: report the attempt
			// lost so the task runs elsewhere.
			e.pending = append(e.pending, Report{Attempt: spec.Attempt, State: AttemptFailed, Time: time.Now(),
				Error: "executor " + execs[i] + " is gone"})
		}
	}
}

// finish flushes a finished job's event log, sweeps its unreferenced
// attempt objects and wakes its waiters.
func (e *Engine) finish(ctx context.Context, id string) {
	// The retention sweeper may have forgotten the job already: Lookup
	// reads its archived record.
	j, err := e.Lookup(ctx, id)
	switch {
	case err != nil:
		e.logger.Warn("finished job", "job", id, "err", err)
	case j.State == JobSucceeded:
		e.logger.Info("job succeeded", "job", id, "took", j.Finished.Sub(j.Submitted).Round(time.Millisecond))
	default:
		e.logger.Warn("job ended", "job", id, "state", j.State, "err", j.Error)
	}
	if e.bucket != nil && j != nil {
		if n, a, err := Sweep(ctx, e.bucket, j); err != nil {
			e.logger.Warn("sweep", "job", id, "err", err)
		} else if n+a > 0 {
			e.logger.Debug("swept", "job", id, "objects", n, "uploads", a)
		}
	}
	e.flushJob(ctx, id)
	e.mu.Lock()
	if ch, ok := e.done[id]; ok {
		close(ch)
		delete(e.done, id)
	}
	e.mu.Unlock()
}

// flushEvents writes every job's buffered events as a new log chunk.
func (e *Engine) flushEvents(ctx context.Context) {
	e.mu.Lock()
	var ids []string
	for id, evs := range e.eventBuf {
		if len(evs) > 0 {
			ids = append(ids, id)
		}
	}
	e.mu.Unlock()
	for _, id := range ids {
		e.flushJob(ctx, id)
	}
}

func (e *Engine) flushJob(ctx context.Context, id string) {
	e.flushMu.Lock() // chunks of one job go out in order
	defer e.flushMu.Unlock()
	e.mu.Lock()
	evs := e.eventBuf[id]
	delete(e.eventBuf, id)
	e.mu.Unlock()
	if len(evs) == 0 || e.bucket == nil {
		return
	}
	if err := store.PutBytes(ctx, e.bucket, eventChunkKey(id, evs[0].Index), encodeEvents(evs)); err != nil {
		e.logger.Warn("write event log", "job", id, "err", err)
	}
}

// NewJobID makes a readable, unique job ID from a job name.
func NewJobID(name string, t time.Time) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return fmt.Sprintf("%s-%s-%04x", strings.Trim(b.String(), "-."), t.UTC().Format("20060102-150405"), rand.IntN(1<<16))
}
