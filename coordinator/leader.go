package coordinator

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/celebrity-zones/cz/engine"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/scaling"
)

// leaderState is the machinery that runs only while this node leads, for
// one term: the engine loop over a Raft-backed log, the executor
// sessions and their leases.
type leaderState struct {
	n       *Node
	term    uint64
	eng     *engine.Engine
	ctx     context.Context
	cancel  context.CancelFunc
	runDone chan struct{}
	reaped  chan struct{}
	scaled  chan struct{}
	// started is when this term's machinery started; announced closes
	// when the job-end notifications stop, firstPass after their first
	// look at the finished jobs.
	started   time.Time
	announced chan struct{}
	firstPass chan struct{}
	// tailWritten closes when the replica's recent events are in the
	// event logs (writeTail).
	tailWritten chan struct{}

	mu     sync.Mutex
	execs  map[string]*remoteExec
	leases map[string]time.Time
}

// startLeading makes sure the replica holds every committed entry, then
// starts the engine and writes the replica's recent events to the event
// logs (the old leader may have died before writing them). Executors the state machine believes alive get the
// lease grace to reconnect; until then their attempts stand.
func (n *Node) startLeading() (*leaderState, error) {
	t := n.cfg.Timing
	if err := n.raft.Barrier(t.ApplyTimeout).Error(); err != nil {
		return nil, err
	}
	term := n.raft.CurrentTerm()
	if n.raft.State() != raft.Leader {
		return nil, raft.ErrNotLeader
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &leaderState{n: n, term: term, ctx: ctx, cancel: cancel, runDone: make(chan struct{}), reaped: make(chan struct{}),
		scaled: make(chan struct{}), execs: map[string]*remoteExec{}, leases: map[string]time.Time{},
		started: time.Now(), announced: make(chan struct{}), firstPass: make(chan struct{}), tailWritten: make(chan struct{})}
	// After the barrier the tail holds every event committed so far; the
	// engine handles (and writes) the events of the commands it proposes.
	tail := n.tail.snapshot()
	l.eng = engine.New(engine.Config{Bucket: n.cfg.Bucket, FSM: n.fsm, Log: raftLog{r: n.raft, timeout: t.ApplyTimeout},
		Retention: n.cfg.Retention, Logger: n.logger.With("term", term)})
	var alive []*engine.ExecutorStatus
	n.fsm.Read(func(s *engine.State) {
		for _, id := range s.ExecutorIDs() {
			if x := s.Executors[id]; x.Alive {
				c := *x
				alive = append(alive, &c)
			}
		}
	})
	grace := time.Now().Add(t.LeaseGrace)
	for _, x := range alive {
		rx := newRemoteExec(x.ID, term, x.Resources, x.Holds)
		l.execs[x.ID], l.leases[x.ID] = rx, grace
		if err := l.eng.AddExecutor(rx); err != nil {
			cancel()
			return nil, err
		}
	}
	go func() {
		defer close(l.runDone)
		if err := l.eng.Run(ctx); err != nil && ctx.Err() == nil {
			n.logger.Warn("engine stopped", "term", term, "err", err)
		}
	}()
	go l.writeTail(tail)
	go l.reap()
	go l.scale()
	go l.announce()
	return l, nil
}

// writeTail writes the events this replica applied last to the jobs'
// event logs: an old leader writes its events every flush interval, so
// it may have died holding some. Readers drop the duplicates
// (engine.ReadEventLog).
func (l *leaderState) writeTail(events []engine.Event) {
	defer close(l.tailWritten)
	if l.n.cfg.Bucket == nil || len(events) == 0 {
		return
	}
	if err := engine.WriteEventTail(l.ctx, l.n.cfg.Bucket, events); err != nil {
		l.n.logger.Warn("write recent events to the event logs", "term", l.term, "err", err)
		return
	}
	l.n.logger.Debug("wrote recent events to the event logs", "term", l.term, "events", len(events),
		"from", events[0].Index, "to", events[len(events)-1].Index)
}

// scale runs the executor autoscaler, if one is configured, for this term.
func (l *leaderState) scale() {
	defer close(l.scaled)
	sc := l.n.cfg.Scaling
	if sc.Group == nil {
		return
	}
	every := sc.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	s := &scaling.Scaler{Policy: sc.Policy, Group: sc.Group, Load: scaling.EngineLoad(l.eng), Log: l.n.logger.With("term", l.term)}
	s.Run(l.ctx, every)
}

func (l *leaderState) dead() bool {
	select {
	case <-l.runDone:
		return true
	default:
		return false
	}
}

func (l *leaderState) stop() {
	l.cancel()
	<-l.runDone
	<-l.reaped
	<-l.scaled
	<-l.announced
	<-l.tailWritten
	l.mu.Lock()
	for _, rx := range l.execs {
		rx.close()
	}
	l.mu.Unlock()
}

// reap declares executors lost whose lease ran out.
func (l *leaderState) reap() {
	defer close(l.reaped)
	every := max(l.n.cfg.Timing.LeaseTTL/4, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		var alive []string
		l.n.fsm.Read(func(s *engine.State) {
			for _, id := range s.ExecutorIDs() {
				if s.Executors[id].Alive {
					alive = append(alive, id)
				}
			}
		})
		now := time.Now()
		for _, id := range alive {
			l.mu.Lock()
			deadline, ok := l.leases[id]
			if !ok {
				deadline = now.Add(l.n.cfg.Timing.LeaseGrace)
				l.leases[id] = deadline
			}
			expired := now.After(deadline)
			if expired {
				delete(l.leases, id)
				if rx := l.execs[id]; rx != nil {
					rx.close()
					delete(l.execs, id)
				}
			}
			l.mu.Unlock()
			if expired {
				l.n.logger.Warn("executor lease expired: its attempts run elsewhere", "executor", id)
				if err := l.eng.ExecutorLost(id); err != nil {
					l.n.logger.Warn("executor lost", "executor", id, "err", err)
				}
			}
		}
	}
}

func (l *leaderState) extend(id string) time.Time {
	exp := time.Now().Add(l.n.cfg.Timing.LeaseTTL)
	l.mu.Lock()
	l.leases[id] = exp
	l.mu.Unlock()
	return exp
}

// register opens an executor's session for this term: it refreshes the
// executor in the state machine and queues every attempt the state
// machine has live on it (the executor ignores the ones it runs, and
// reports again the ones it finished), so nothing is lost across a
// leader change.
func (l *leaderState) register(id string, res engine.Resources, holds []string) (*remoteExec, error) {
	l.mu.Lock()
	// A new session replaces the old one (whose stream may linger): the
	// queue starts empty and is refilled from the state machine below.
	if old := l.execs[id]; old != nil {
		old.close()
	}
	rx := newRemoteExec(id, l.term, res, holds)
	l.execs[id] = rx
	l.leases[id] = time.Now().Add(l.n.cfg.Timing.LeaseTTL)
	l.mu.Unlock()
	if err := l.eng.AddExecutor(rx); err != nil {
		return nil, err
	}
	var specs []engine.TaskSpec
	l.n.fsm.Read(func(s *engine.State) {
		for _, jid := range s.JobOrder {
			j := s.Jobs[jid]
			if j.State.Terminal() {
				continue
			}
			for _, st := range j.Stages {
				for _, t := range st.Tasks {
					for _, at := range t.Live() {
						if at.Executor == id {
							specs = append(specs, engine.TaskSpecFor(j, engine.AttemptID{Job: j.ID, Stage: st.Name, Partition: t.Partition, Attempt: at.Num}))
						}
					}
				}
			}
		}
	})
	for _, s := range specs {
		rx.Launch(s, nil)
	}
	return rx, nil
}

func (l *leaderState) session(id string) *remoteExec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.execs[id]
}

func (l *leaderState) leave(id string) error {
	// Reports the executor sent last may still wait in the engine: give
	// them a moment to commit before the rest is written off.
	for i := 0; i < 100 && l.liveOn(id) > 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	l.mu.Lock()
	if rx := l.execs[id]; rx != nil {
		rx.close()
		delete(l.execs, id)
	}
	delete(l.leases, id)
	l.mu.Unlock()
	return l.eng.ExecutorLost(id)
}

// remoteExec is an engine.Executor whose attempts go to a remote
// executor through its PullAssignments stream. Reports come back
// through ReportResults into Engine.Report.
type remoteExec struct {
	id   string
	term uint64

	mu     sync.Mutex
	res    engine.Resources
	holds  []string
	queue  []*czpb.Assignment
	signal chan struct{}
	closed chan struct{}
}

func newRemoteExec(id string, term uint64, res engine.Resources, holds []string) *remoteExec {
	return &remoteExec{id: id, term: term, res: res, holds: holds, signal: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (r *remoteExec) ID() string { return r.id }

func (r *remoteExec) Resources() engine.Resources {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.res
}

func (r *remoteExec) Holds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holds
}

func (r *remoteExec) Launch(spec engine.TaskSpec, _ func(engine.Report)) {
	data, _ := json.Marshal(spec)
	r.push(&czpb.Assignment{Term: r.term, TaskJson: data})
}

func (r *remoteExec) Kill(id engine.AttemptID) {
	data, _ := json.Marshal(id)
	r.push(&czpb.Assignment{Term: r.term, KillAttemptJson: string(data)})
}

func (r *remoteExec) push(a *czpb.Assignment) {
	r.mu.Lock()
	r.queue = append(r.queue, a)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// take returns the queued assignments, waiting for some.
func (r *remoteExec) take(ctx context.Context) ([]*czpb.Assignment, error) {
	for {
		r.mu.Lock()
		q := r.queue
		r.queue = nil
		r.mu.Unlock()
		if len(q) > 0 {
			return q, nil
		}
		select {
		case <-r.signal:
		case <-r.closed:
			return nil, errSessionClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (r *remoteExec) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.closed:
	default:
		close(r.closed)
	}
}

// liveOn counts the live attempts the state machine has on an executor.
func (l *leaderState) liveOn(id string) int {
	n := 0
	l.n.fsm.Read(func(s *engine.State) {
		if x := s.Executors[id]; x != nil {
			n = x.Running
		}
	})
	return n
}
