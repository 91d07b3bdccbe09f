package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/celebrity-zones/cz/engine"
	czpb "github.com/celebrity-zones/cz/proto"
)

// maxMessage bounds a gRPC message: a job of tens of thousands of tasks
// is megabytes of JSON.
const maxMessage = 256 << 20

var errSessionClosed = status.Error(codes.Unavailable, "executor session closed: register again")

// notLeader is the error of a follower; LeaderHint reads the leader's
// address back out of it.
func (n *Node) notLeader() error {
	id, api := n.Leader()
	if api == "" {
		return status.Errorf(codes.Unavailable, "not the leader and no leader known (leader id %q)", id)
	}
	return status.Errorf(codes.FailedPrecondition, "not the leader (leader: %s)", api)
}

// LeaderHint returns the leader address a follower named in err, or "".
func LeaderHint(err error) string {
	msg := status.Convert(err).Message()
	const mark = "(leader: "
	i := strings.Index(msg, mark)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(mark):]
	if j := strings.IndexByte(rest, ')'); j >= 0 {
		return rest[:j]
	}
	return ""
}

// GRPCServer returns a server with both services, behind mutual TLS and
// the token check (unless Security.Insecure).
func (n *Node) GRPCServer() (*grpc.Server, error) {
	sec := n.cfg.Security
	opts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(sec.unary), grpc.ChainStreamInterceptor(sec.stream),
		grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage)}
	if !sec.Insecure {
		c, err := sec.ServerTLS(false)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(c)))
	}
	s := grpc.NewServer(opts...)
	czpb.RegisterClientServer(s, &clientAPI{n: n})
	czpb.RegisterExecutorServer(s, &executorAPI{n: n})
	return s, nil
}

// forwarder keeps connections to the leader for forwarded writes.
type forwarder struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (n *Node) leaderClient() (czpb.ClientClient, error) {
	_, api := n.Leader()
	if api == "" || api == n.cfg.APIAddr {
		return nil, n.notLeader()
	}
	n.fwd.mu.Lock()
	defer n.fwd.mu.Unlock()
	if n.fwd.conns == nil {
		n.fwd.conns = map[string]*grpc.ClientConn{}
	}
	if c := n.fwd.conns[api]; c != nil {
		return czpb.NewClientClient(c), nil
	}
	opts, err := n.cfg.Security.DialOptions()
	if err != nil {
		return nil, err
	}
	c, err := grpc.NewClient(api, opts...)
	if err != nil {
		return nil, err
	}
	n.fwd.conns[api] = c
	return czpb.NewClientClient(c), nil
}

func (n *Node) closeForwarder() {
	n.fwd.mu.Lock()
	defer n.fwd.mu.Unlock()
	for _, c := range n.fwd.conns {
		c.Close()
	}
	n.fwd.conns = nil
}

// forwardContext passes the caller's token on.
func forwardContext(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	if v := md.Get("authorization"); len(v) > 0 {
		out.Set("authorization", v...)
	}
	out.Set("cz-forwarded", "1")
	return metadata.NewOutgoingContext(ctx, out)
}

func forwarded(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get("cz-forwarded")) > 0
}

type clientAPI struct {
	czpb.UnimplementedClientServer
	n *Node
}

func (a *clientAPI) SubmitJob(ctx context.Context, req *czpb.SubmitJobRequest) (*czpb.SubmitJobResponse, error) {
	l := a.n.leader()
	if l == nil {
		if forwarded(ctx) {
			return nil, a.n.notLeader()
		}
		c, err := a.n.leaderClient()
		if err != nil {
			return nil, err
		}
		return c.SubmitJob(forwardContext(ctx), req)
	}
	spec, err := engine.ParseSpec("spec_json", req.SpecJson)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	id, err := l.eng.Submit(spec, req.IdempotencyKey)
	if err != nil {
		if strings.HasPrefix(err.Error(), "job spec:") {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &czpb.SubmitJobResponse{JobId: id, Index: a.n.fsm.Index()}, nil
}

func (a *clientAPI) CancelJob(ctx context.Context, req *czpb.CancelJobRequest) (*czpb.CancelJobResponse, error) {
	l := a.n.leader()
	if l == nil {
		if forwarded(ctx) {
			return nil, a.n.notLeader()
		}
		c, err := a.n.leaderClient()
		if err != nil {
			return nil, err
		}
		return c.CancelJob(forwardContext(ctx), req)
	}
	if l.eng.Job(req.JobId) == nil {
		// Forgotten jobs are finished: cancelling one changes nothing.
		if _, err := l.eng.Lookup(ctx, req.JobId); err == nil {
			return &czpb.CancelJobResponse{}, nil
		}
		return nil, status.Errorf(codes.NotFound, "no job %q", req.JobId)
	}
	reason := req.Reason
	if reason == "" {
		reason = "by request"
	}
	if err := l.eng.Cancel(req.JobId, reason); err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &czpb.CancelJobResponse{}, nil
}

// Reads are linearizable: the leader serves them after confirming with a
// quorum that it still leads (so a deposed leader never answers from a
// stale replica), and a follower forwards them to the leader.
func (a *clientAPI) readLeader(ctx context.Context) (czpb.ClientClient, error) {
	if l := a.n.leader(); l != nil {
		if err := a.n.raft.VerifyLeader().Error(); err != nil {
			return nil, a.n.notLeader()
		}
		return nil, nil
	}
	if forwarded(ctx) {
		return nil, a.n.notLeader()
	}
	return a.n.leaderClient()
}

func (a *clientAPI) GetJob(ctx context.Context, req *czpb.GetJobRequest) (*czpb.GetJobResponse, error) {
	c, err := a.readLeader(ctx)
	if err != nil {
		return nil, err
	}
	if c != nil {
		return c.GetJob(forwardContext(ctx), req)
	}
	// A finished job the state machine has forgotten comes from the store.
	j, err := a.n.view.Lookup(ctx, req.JobId)
	if errors.Is(err, engine.ErrNoJob) {
		return nil, status.Errorf(codes.NotFound, "no job %q", req.JobId)
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "job %s: %v", req.JobId, err)
	}
	data, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	return &czpb.GetJobResponse{JobJson: data, Index: a.n.fsm.Index()}, nil
}

func (a *clientAPI) ListJobs(ctx context.Context, req *czpb.ListJobsRequest) (*czpb.ListJobsResponse, error) {
	c, err := a.readLeader(ctx)
	if err != nil {
		return nil, err
	}
	if c != nil {
		return c.ListJobs(forwardContext(ctx), req)
	}
	resp := &czpb.ListJobsResponse{Index: a.n.fsm.Index()}
	for _, j := range a.n.view.Jobs() {
		resp.Jobs = append(resp.Jobs, Summary(j))
	}
	return resp, nil
}

// Summary condenses a job for ListJobs.
func Summary(j *engine.Job) *czpb.JobSummary {
	c := j.Counts()
	s := &czpb.JobSummary{Id: j.ID, Name: j.Spec.Name, State: j.State.String(), Error: j.Error,
		Committed: int32(c[engine.TaskCommitted]), Running: int32(c[engine.TaskRunning]), Failed: int32(c[engine.TaskFailed]),
		SubmittedUnixMs: j.Submitted.UnixMilli()}
	for _, n := range c {
		s.Tasks += int32(n)
	}
	if !j.Finished.IsZero() {
		s.FinishedUnixMs = j.Finished.UnixMilli()
	}
	return s
}

func (a *clientAPI) WatchJob(req *czpb.GetJobRequest, stream czpb.Client_WatchJobServer) error {
	ctx := stream.Context()
	var last *czpb.JobSummary
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for wait := 0; ; wait++ {
		if err := a.n.ReplicaFresh(); err != nil {
			return err
		}
		var sum *czpb.JobSummary
		a.n.fsm.Read(func(s *engine.State) {
			if j := s.Jobs[req.JobId]; j != nil {
				sum = Summary(j)
			}
		})
		if sum == nil && (wait > 100 || a.n.leader() != nil) {
			// Unknown here after a while (or to the leader): ask GetJob,
			// which asks the leader, for the verdict. A job it finds is
			// one the state machine has forgotten, so finished.
			r, err := a.GetJob(ctx, req)
			if err != nil {
				return err
			}
			var j engine.Job
			if err := json.Unmarshal(r.JobJson, &j); err != nil {
				return err
			}
			if j.State.Terminal() {
				return stream.Send(&czpb.WatchJobResponse{Summary: Summary(&j), JobJson: r.JobJson, Index: r.Index})
			}
		}
		if sum != nil && (last == nil || !proto.Equal(sum, last)) {
			last = sum
			resp := &czpb.WatchJobResponse{Summary: sum, Index: a.n.fsm.Index()}
			if isTerminal(sum.State) {
				j := a.n.view.Job(req.JobId)
				data, err := json.Marshal(j)
				if err != nil {
					return err
				}
				resp.JobJson = data
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
			if resp.JobJson != nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func isTerminal(state string) bool {
	var s engine.JobState
	return s.UnmarshalText([]byte(state)) == nil && s.Terminal()
}

type executorAPI struct {
	czpb.UnimplementedExecutorServer
	n *Node
}

// session returns the leader machinery if this node leads in term (0:
// any term).
func (a *executorAPI) session(term uint64) (*leaderState, error) {
	l := a.n.leader()
	if l == nil {
		return nil, a.n.notLeader()
	}
	if term != 0 && term != l.term {
		return nil, status.Errorf(codes.FailedPrecondition, "stale term %d: the leader is in term %d, register again", term, l.term)
	}
	return l, nil
}

func (a *executorAPI) Register(ctx context.Context, req *czpb.RegisterRequest) (*czpb.RegisterResponse, error) {
	l, err := a.session(0)
	if err != nil {
		return nil, err
	}
	if req.ExecutorId == "" {
		return nil, status.Error(codes.InvalidArgument, "executor_id: empty")
	}
	res := engine.Resources{CPU: int(req.GetResources().GetCpu()), GPU: int(req.GetResources().GetGpu()), MemoryMB: req.GetResources().GetMemoryMb()}
	if req.Draining {
		res = engine.Resources{} // nothing fits: no new work
	}
	if _, err := l.register(req.ExecutorId, res, req.Holds); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	a.n.logger.Info("executor registered", "executor", req.ExecutorId, "resources", res, "draining", req.Draining, "term", l.term)
	return &czpb.RegisterResponse{Term: l.term, LeaseMs: a.n.cfg.Timing.LeaseTTL.Milliseconds(), LeaderId: a.n.cfg.ID}, nil
}

func (a *executorAPI) Lease(stream czpb.Executor_LeaseServer) error {
	beats := make(chan *czpb.Heartbeat)
	errc := make(chan error, 1)
	go func() {
		for {
			hb, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case beats <- hb:
			case <-stream.Context().Done():
				return
			}
		}
	}()
	var l *leaderState
	for {
		var done <-chan struct{}
		if l != nil {
			done = l.ctx.Done()
		}
		select {
		case err := <-errc:
			return err
		case <-done:
			return status.Error(codes.Unavailable, "leader stepped down")
		case hb := <-beats:
			s, err := a.session(hb.Term)
			if err != nil {
				return err
			}
			if l != nil && s != l {
				return status.Error(codes.FailedPrecondition, "leader changed: register again")
			}
			l = s
			if l.session(hb.ExecutorId) == nil {
				return status.Error(codes.FailedPrecondition, "not registered in this term: register again")
			}
			exp := l.extend(hb.ExecutorId)
			if err := stream.Send(&czpb.LeaseGrant{Term: l.term, ExpiresUnixMs: exp.UnixMilli()}); err != nil {
				return err
			}
		}
	}
}

func (a *executorAPI) PullAssignments(req *czpb.PullRequest, stream czpb.Executor_PullAssignmentsServer) error {
	l, err := a.session(req.Term)
	if err != nil {
		return err
	}
	rx := l.session(req.ExecutorId)
	if rx == nil {
		return status.Error(codes.FailedPrecondition, "not registered in this term: register again")
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-l.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		batch, err := rx.take(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) && l.ctx.Err() != nil {
				return status.Error(codes.Unavailable, "leader stepped down")
			}
			return err
		}
		for _, as := range batch {
			if err := stream.Send(as); err != nil {
				return err
			}
		}
	}
}

func (a *executorAPI) ReportResults(ctx context.Context, req *czpb.ReportRequest) (*czpb.ReportResponse, error) {
	l, err := a.session(req.Term)
	if err != nil {
		return nil, err
	}
	if l.session(req.ExecutorId) == nil {
		return nil, status.Error(codes.FailedPrecondition, "not registered in this term: register again")
	}
	l.extend(req.ExecutorId)
	resp := &czpb.ReportResponse{}
	for _, raw := range req.ReportsJson {
		var r engine.Report
		if err := json.Unmarshal(raw, &r); err != nil {
			resp.Refused = append(resp.Refused, fmt.Sprintf("bad report: %v", err))
			continue
		}
		owner := ""
		a.n.fsm.Read(func(s *engine.State) {
			if j := s.Jobs[r.Attempt.Job]; j != nil {
				if t := j.Task(r.Attempt.Stage, r.Attempt.Partition); t != nil {
					if at := t.Attempt(r.Attempt.Attempt); at != nil {
						owner = at.Executor
					}
				}
			}
		})
		if owner != req.ExecutorId {
			resp.Refused = append(resp.Refused, fmt.Sprintf("%s: not assigned to %s", r.Attempt, req.ExecutorId))
			continue
		}
		l.eng.Report(r)
		resp.Accepted++
	}
	return resp, nil
}

func (a *executorAPI) AuthorizeCommit(ctx context.Context, req *czpb.AuthorizeRequest) (*czpb.AuthorizeResponse, error) {
	l, err := a.session(req.Term)
	if err != nil {
		return nil, err
	}
	var id engine.AttemptID
	if err := json.Unmarshal(req.AttemptJson, &id); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	ok, err := l.eng.AuthorizeCommit(id)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &czpb.AuthorizeResponse{Granted: ok}, nil
}

func (a *executorAPI) Leave(ctx context.Context, req *czpb.LeaveRequest) (*czpb.LeaveResponse, error) {
	l, err := a.session(req.Term)
	if err != nil {
		return nil, err
	}
	if err := l.leave(req.ExecutorId); err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	a.n.logger.Info("executor left", "executor", req.ExecutorId)
	return &czpb.LeaveResponse{}, nil
}

func (a *clientAPI) Cluster(ctx context.Context, req *czpb.ClusterRequest) (*czpb.ClusterResponse, error) {
	id, api := a.n.Leader()
	resp := &czpb.ClusterResponse{NodeId: a.n.cfg.ID, LeaderId: id, LeaderApi: api, Term: a.n.raft.CurrentTerm(), AppliedIndex: a.n.fsm.Index()}
	if f := a.n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			resp.Members = append(resp.Members, string(s.ID)+"="+string(s.Address))
		}
	}
	a.n.fsm.Read(func(s *engine.State) {
		for _, id := range s.ExecutorIDs() {
			if s.Executors[id].Alive {
				resp.Executors = append(resp.Executors, id)
			}
		}
	})
	return resp, nil
}
