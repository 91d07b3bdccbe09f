// Package executor is cz's remote executor: a worker process that joins
// the cluster through memberlist gossip, registers with the Raft leader
// (found through any coordinator), keeps a lease with heartbeats, pulls
// the attempts assigned to it, runs them with the operators registered in
// this binary (engine.RunAttempt on a bounded pool of CPU slots, GPU slots
// and memory) and reports their results, fenced by the leader's term.
// On SIGTERM or a spot-interruption notice it drains: it takes no new
// work, finishes what runs within the drain timeout and hands the rest
// back.
package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/shuffle"
	"github.com/celebrity-zones/cz/store"
)

// Config configures an Executor.
type Config struct {
	ID        string
	Resources engine.Resources
	// Holds are locality keys of inputs already loaded here.
	Holds  []string
	Bucket store.Bucket
	// Security: the cluster certificate (mutual TLS).
	Security coordinator.Security
	// Seeds are gossip addresses of cluster members; GossipBind is this
	// member's gossip address ("127.0.0.1:0" picks a port). Without
	// seeds the executor uses Coordinators only.
	Seeds      []string
	GossipBind string
	// Coordinators are API addresses to try besides the gossiped ones.
	Coordinators []string
	// BlockListen, when set, serves this executor's shuffle map outputs
	// (kept under BlockDir, default a temporary folder) to reducers on
	// other executors; BlockAdvertise is the address they dial (default
	// the listener's). Spot marks an executor that may vanish at short
	// notice: the shuffle then also copies its outputs to the store.
	BlockListen, BlockAdvertise, BlockDir string
	Spot                                  bool
	// SpotNoticeURL, when set, is polled every SpotNoticeInterval
	// (default 5s); once it answers 200 the executor drains
	// (DefaultSpotNoticeURL on EC2 spot instances).
	SpotNoticeURL      string
	SpotNoticeInterval time.Duration
	// DrainTimeout bounds how long a drain waits for running attempts
	// (default 2 minutes, the spot-interruption notice).
	DrainTimeout time.Duration
	// Faults are injected into the calls to the leader: for tests only
	// (see Faults); the zero value injects none.
	Faults Faults
	// CommitHistory, when set, is a file to which every AuthorizeCommit
	// call is appended (CommitCall lines), FOR TESTS: the end-to-end
	// tests check the histories of all executors for linearizability
	// (cz executor reads CZ_COMMIT_HISTORY).
	CommitHistory string
	Logger        *slog.Logger
}

// Executor is a remote executor.
type Executor struct {
	cfg    Config
	logger *slog.Logger
	pool   *local.Executor
	gossip *coordinator.Gossip

	drainCh   chan struct{}
	drainOnce sync.Once
	crashCh   chan struct{} // tests: stop dead, as a killed process

	mu       sync.Mutex
	term     uint64
	leader   string // API address of the coordinator that took the registration
	running  map[engine.AttemptID]bool
	done     map[engine.AttemptID]engine.Report
	doneFIFO []engine.AttemptID
	outbox   []engine.Report
	outSig   chan struct{}
	conns    map[string]*grpc.ClientConn
	finished int
	// blockAddr is where this executor serves shuffle blocks ("": nowhere).
	blockAddr string
	// faults intercepts the calls to the leader (tests; nil: none).
	faults grpc.UnaryClientInterceptor
	// commits records the AuthorizeCommit calls (tests; nil: none).
	commits *commitRecorder
}

// New returns an executor; Run starts it.
func New(cfg Config) (*Executor, error) {
	if cfg.ID == "" {
		return nil, fmt.Errorf("executor: an ID is required")
	}
	if err := cfg.Security.CheckMember(); err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	if cfg.Bucket == nil {
		return nil, fmt.Errorf("executor: a bucket is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 2 * time.Minute
	}
	if cfg.Resources.CPU == 0 && cfg.Resources.GPU == 0 {
		cfg.Resources = local.MachineResources(0)
	}
	x := &Executor{cfg: cfg, logger: cfg.Logger.With("executor", cfg.ID), drainCh: make(chan struct{}), crashCh: make(chan struct{}),
		running: map[engine.AttemptID]bool{}, done: map[engine.AttemptID]engine.Report{},
		outSig: make(chan struct{}, 1), conns: map[string]*grpc.ClientConn{}}
	x.pool = local.New(cfg.ID, cfg.Resources, cfg.Bucket, cfg.Logger)
	x.pool.UseCommitRegistry(x.authorize)
	x.faults = cfg.Faults.Interceptor(x.logger)
	if cfg.CommitHistory != "" {
		r, err := openCommitRecorder(cfg.CommitHistory, cfg.ID, x.logger)
		if err != nil {
			return nil, fmt.Errorf("executor: %w", err)
		}
		x.commits = r
	}
	return x, nil
}

// Finished counts the attempts this executor ran to their end.
func (x *Executor) Finished() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.finished
}

// Running counts the attempts running now.
func (x *Executor) Running() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.running)
}

// Drain starts a drain (as a cancelled Run context does).
func (x *Executor) Drain() { x.drainOnce.Do(func() { close(x.drainCh) }) }

func (x *Executor) draining() bool {
	select {
	case <-x.drainCh:
		return true
	default:
		return false
	}
}

// Run joins the cluster and works until ctx ends; then it drains and
// returns. Kill the process instead to simulate a crash.
func (x *Executor) Run(ctx context.Context) error {
	if len(x.cfg.Seeds) > 0 {
		bind := x.cfg.GossipBind
		if bind == "" {
			bind = "0.0.0.0:7946"
		}
		g, err := coordinator.JoinGossip(bind, coordinator.Meta{Role: "executor", ID: x.cfg.ID,
			CPU: x.cfg.Resources.CPU, GPU: x.cfg.Resources.GPU, MemoryMB: x.cfg.Resources.MemoryMB}, x.cfg.Seeds, x.logger)
		if err != nil {
			return err
		}
		x.gossip = g
		defer g.Close()
	}
	defer x.closeConns()
	if x.commits != nil {
		defer x.commits.close()
	}
	// Reducers here fetch served shuffle blocks from other executors.
	shuffle.RegisterDialer("grpc", BlockDialer(x.cfg.Security))
	if x.cfg.BlockListen != "" {
		stopBlocks, err := x.serveBlocks()
		if err != nil {
			return err
		}
		defer stopBlocks()
	}
	life, stop := context.WithCancel(context.Background())
	defer stop()
	if x.cfg.SpotNoticeURL != "" {
		every := x.cfg.SpotNoticeInterval
		if every <= 0 {
			every = 5 * time.Second
		}
		go x.watchSpotNotice(life, x.cfg.SpotNoticeURL, every)
	}
	sessions := make(chan struct{})
	go func() {
		defer close(sessions)
		x.sessions(life)
	}()
	select {
	case <-ctx.Done():
		x.Drain()
	case <-x.drainCh:
	case <-x.crashCh:
		stop()
		<-sessions
		x.pool.Close()
		return errors.New("crashed")
	}
	left := x.drain()
	stop()
	<-sessions
	x.pool.Close()
	return x.leave(left)
}

// serveBlocks starts the block server and makes it this process's
// shuffle placement.
func (x *Executor) serveBlocks() (func(), error) {
	dir := x.cfg.BlockDir
	if dir == "" {
		d, err := os.MkdirTemp("", "cz-blocks-"+x.cfg.ID+"-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	lb, err := shuffle.OpenLocalBlocks(dir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", x.cfg.BlockListen)
	if err != nil {
		return nil, fmt.Errorf("block server: %w", err)
	}
	stop, err := ServeBlocks(ln, lb, x.cfg.Security)
	if err != nil {
		ln.Close()
		return nil, err
	}
	addr := x.cfg.BlockAdvertise
	if addr == "" {
		addr = ln.Addr().String()
	}
	x.blockAddr = "grpc://" + addr
	shuffle.SetExecutorBlocks(lb, x.blockAddr, x.cfg.Spot)
	x.logger.Info("serving shuffle blocks", "addr", x.blockAddr, "dir", dir, "spot", x.cfg.Spot)
	return func() {
		shuffle.SetExecutorBlocks(nil, "", false)
		stop()
		if x.cfg.BlockDir == "" {
			os.RemoveAll(dir)
		}
	}, nil
}

// drain waits for running attempts and their reports; whatever still
// runs at the deadline is killed, and drain returns how many.
func (x *Executor) drain() int {
	x.logger.Info("draining", "running", x.Running(), "timeout", x.cfg.DrainTimeout)
	deadline := time.Now().Add(x.cfg.DrainTimeout)
	for time.Now().Before(deadline) {
		x.mu.Lock()
		idle := len(x.running) == 0 && len(x.outbox) == 0
		x.mu.Unlock()
		if idle {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	x.mu.Lock()
	var left []engine.AttemptID
	for id := range x.running {
		left = append(left, id)
	}
	x.mu.Unlock()
	for _, id := range left {
		x.pool.Kill(id)
	}
	return len(left)
}

// leave tells the leader this executor is gone: it writes off what is
// left, which runs elsewhere.
func (x *Executor) leave(left int) error {
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; i < 20 && time.Now().Before(deadline); i++ {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		c, term, err := x.client()
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = c.Leave(ctx, &czpb.LeaveRequest{ExecutorId: x.cfg.ID, Term: term})
		cancel()
		if err == nil {
			x.logger.Info("drained", "handed_back", left)
			return nil
		}
		// The leader or its term changed: register (as draining) with
		// the current one and leave in its term.
		rctx, cancel := context.WithDeadline(context.Background(), deadline)
		x.register(rctx)
		cancel()
	}
	return fmt.Errorf("executor %s: could not leave the cluster; the leader writes it off when its lease expires", x.cfg.ID)
}

func (x *Executor) client() (czpb.ExecutorClient, uint64, error) {
	x.mu.Lock()
	addr, term := x.leader, x.term
	x.mu.Unlock()
	if addr == "" {
		return nil, 0, errors.New("no session")
	}
	c, err := x.conn(addr)
	if err != nil {
		return nil, 0, err
	}
	return czpb.NewExecutorClient(c), term, nil
}

func (x *Executor) conn(addr string) (*grpc.ClientConn, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if c := x.conns[addr]; c != nil {
		return c, nil
	}
	opts, err := x.cfg.Security.DialOptions()
	if err != nil {
		return nil, err
	}
	if x.commits != nil {
		opts = append(opts, grpc.WithChainUnaryInterceptor(x.commits.intercept))
	}
	if x.faults != nil {
		opts = append(opts, grpc.WithChainUnaryInterceptor(x.faults))
	}
	c, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	x.conns[addr] = c
	return c, nil
}

func (x *Executor) closeConns() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range x.conns {
		c.Close()
	}
	x.conns = map[string]*grpc.ClientConn{}
}

var errNoCoordinator = errors.New("no coordinator known yet")

// sessions registers with the leader and runs a session, again and
// again (after a leader change, a lost stream, the start of a drain).
func (x *Executor) sessions(ctx context.Context) {
	backoff := 50 * time.Millisecond
	failures := 0
	for ctx.Err() == nil {
		c, reg, err := x.register(ctx)
		if err != nil {
			// Say so the first time and then every half minute or so: a
			// wrong certificate or token must not go unnoticed.
			if errors.Is(err, errNoCoordinator) {
				x.logger.Debug("register", "err", err)
			} else if failures++; failures == 1 || failures%30 == 0 {
				x.logger.Warn("cannot register with the leader", "err", err, "tries", failures)
			} else {
				x.logger.Debug("register", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff, failures = 50*time.Millisecond, 0
		err = x.session(ctx, c, reg)
		if ctx.Err() == nil {
			x.logger.Info("session ended", "term", reg.Term, "err", err)
		}
	}
}

// register finds the leader (any coordinator redirects to it) and
// registers.
func (x *Executor) register(ctx context.Context) (czpb.ExecutorClient, *czpb.RegisterResponse, error) {
	x.mu.Lock()
	cands := []string{}
	if x.leader != "" {
		cands = append(cands, x.leader)
	}
	x.mu.Unlock()
	cands = append(cands, x.cfg.Coordinators...)
	if x.gossip != nil {
		cands = append(cands, x.gossip.Coordinators()...)
	}
	if len(cands) == 0 {
		return nil, nil, errNoCoordinator
	}
	draining := x.draining()
	res := x.cfg.Resources
	req := &czpb.RegisterRequest{ExecutorId: x.cfg.ID, Holds: x.cfg.Holds, Draining: draining, Address: x.blockAddr,
		Resources: &czpb.Resources{Cpu: int32(res.CPU), Gpu: int32(res.GPU), MemoryMb: res.MemoryMB}}
	var errs []error
	tried := map[string]bool{}
	for len(cands) > 0 {
		addr := cands[0]
		cands = cands[1:]
		if tried[addr] {
			continue
		}
		tried[addr] = true
		conn, err := x.conn(addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c := czpb.NewExecutorClient(conn)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := c.Register(rctx, req)
		cancel()
		if err != nil {
			if hint := coordinator.LeaderHint(err); hint != "" {
				cands = append([]string{hint}, cands...)
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		x.mu.Lock()
		x.leader, x.term = addr, resp.Term
		x.mu.Unlock()
		x.logger.Info("registered", "coordinator", addr, "leader", resp.LeaderId, "term", resp.Term, "draining", draining)
		return c, resp, nil
	}
	return nil, nil, errors.Join(errs...)
}

// session runs the lease, the assignment stream and the reporter until
// one of them fails or a drain starts.
func (x *Executor) session(ctx context.Context, c czpb.ExecutorClient, reg *czpb.RegisterResponse) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	go func() { errc <- x.lease(ctx, c, reg) }()
	go func() { errc <- x.pull(ctx, c, reg.Term) }()
	go func() { errc <- x.report(ctx, c, reg.Term) }()
	drainCh := x.drainCh
	if x.draining() {
		drainCh = nil // registered as draining already
	}
	var err error
	select {
	case err = <-errc:
	case <-drainCh:
		err = errors.New("drain started: register as draining")
	}
	cancel()
	return err
}

func (x *Executor) lease(ctx context.Context, c czpb.ExecutorClient, reg *czpb.RegisterResponse) error {
	s, err := c.Lease(ctx)
	if err != nil {
		return err
	}
	every := max(time.Duration(reg.LeaseMs)*time.Millisecond/3, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	recv := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Recv(); err != nil {
				recv <- err
				return
			}
		}
	}()
	for {
		x.mu.Lock()
		hb := &czpb.Heartbeat{ExecutorId: x.cfg.ID, Term: reg.Term}
		for id := range x.running {
			hb.Running = append(hb.Running, id.String())
		}
		x.mu.Unlock()
		if err := s.Send(hb); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-recv:
			return err
		case <-t.C:
		}
	}
}

func (x *Executor) pull(ctx context.Context, c czpb.ExecutorClient, term uint64) error {
	s, err := c.PullAssignments(ctx, &czpb.PullRequest{ExecutorId: x.cfg.ID, Term: term})
	if err != nil {
		return err
	}
	for {
		a, err := s.Recv()
		if err != nil {
			return err
		}
		x.assigned(a)
	}
}

// assigned handles one message of the assignment stream.
func (x *Executor) assigned(a *czpb.Assignment) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if a.Term < x.term {
		x.logger.Warn("refused an assignment of a deposed leader", "term", a.Term, "current", x.term)
		return
	}
	if a.KillAttemptJson != "" {
		var id engine.AttemptID
		if json.Unmarshal([]byte(a.KillAttemptJson), &id) == nil && x.running[id] {
			delete(x.running, id)
			go x.pool.Kill(id)
		}
		return
	}
	var spec engine.TaskSpec
	if err := json.Unmarshal(a.TaskJson, &spec); err != nil {
		x.logger.Error("bad assignment", "err", err)
		return
	}
	id := spec.Attempt
	if x.running[id] {
		return // a new leader re-sent what runs here
	}
	if rep, ok := x.done[id]; ok {
		x.queueLocked(rep) // finished, but the report may not have been committed
		return
	}
	if x.draining() {
		return // handed back by Leave at the end of the drain
	}
	x.running[id] = true
	x.pool.Launch(spec, func(r engine.Report) { x.reported(id, r) })
}

func (x *Executor) reported(id engine.AttemptID, r engine.Report) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if r.State.Terminal() {
		if !x.running[id] {
			return // killed meanwhile
		}
		delete(x.running, id)
		x.finished++
		x.done[id] = r
		x.doneFIFO = append(x.doneFIFO, id)
		if len(x.doneFIFO) > 10000 {
			delete(x.done, x.doneFIFO[0])
			x.doneFIFO = x.doneFIFO[1:]
		}
	}
	x.queueLocked(r)
}

func (x *Executor) queueLocked(r engine.Report) {
	x.outbox = append(x.outbox, r)
	select {
	case x.outSig <- struct{}{}:
	default:
	}
}

// report sends queued reports under the session's term. A refusal for
// the term ends the session: the executor registers again and the
// reports go to the new leader.
func (x *Executor) report(ctx context.Context, c czpb.ExecutorClient, term uint64) error {
	for {
		x.mu.Lock()
		batch := x.outbox
		x.outbox = nil
		x.mu.Unlock()
		if len(batch) > 0 {
			req := &czpb.ReportRequest{ExecutorId: x.cfg.ID, Term: term}
			for _, r := range batch {
				data, _ := json.Marshal(r)
				req.ReportsJson = append(req.ReportsJson, data)
			}
			resp, err := c.ReportResults(ctx, req)
			if err != nil {
				x.mu.Lock()
				x.outbox = append(batch, x.outbox...)
				x.mu.Unlock()
				return err
			}
			for _, why := range resp.Refused {
				x.logger.Warn("report refused", "why", why)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-x.outSig:
		}
	}
}
