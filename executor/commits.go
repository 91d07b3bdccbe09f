package executor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/celebrity-zones/cz/engine"
	czpb "github.com/celebrity-zones/cz/proto"
)

// authorizeTimeout bounds how long an attempt keeps asking for the commit
// grant across leader changes before it gives up (a retryable failure).
const authorizeTimeout = time.Minute

// authorize asks the leader's commit registry whether attempt id may
// perform its side effect (the engine.Authorizer of this executor's
// attempts). It asks in the current session's term and asks again, in
// the new session's, when the leader or the term changed.
func (x *Executor) authorize(ctx context.Context, id engine.AttemptID) (bool, error) {
	data, err := json.Marshal(id)
	if err != nil {
		return false, err
	}
	deadline := time.Now().Add(authorizeTimeout)
	backoff := 50 * time.Millisecond
	for {
		c, term, err := x.client()
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			var resp *czpb.AuthorizeResponse
			resp, err = c.AuthorizeCommit(cctx, &czpb.AuthorizeRequest{ExecutorId: x.cfg.ID, Term: term, AttemptJson: data})
			cancel()
			if err == nil {
				return resp.Granted, nil
			}
			if status.Code(err) == codes.InvalidArgument {
				return false, err
			}
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("no answer from the leader in %s: %w", authorizeTimeout, err)
		}
		x.logger.Debug("authorize commit: asking again", "attempt", id, "err", err)
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// CommitCall is one AuthorizeCommit call an executor made, as its commit
// history file (Config.CommitHistory) records it: a line when the call
// is sent (Done false) and a line when it returns (Done true), with the
// same Executor, PID and Seq. A call whose second line is missing (the
// process died meanwhile) has an unknown outcome. Times are Unix
// nanoseconds of this machine's clock.
type CommitCall struct {
	Executor string           `json:"executor"`
	PID      int              `json:"pid"`
	Seq      uint64           `json:"seq"`
	Attempt  engine.AttemptID `json:"attempt"`
	Call     int64            `json:"call"`
	Return   int64            `json:"return,omitempty"`
	Done     bool             `json:"done,omitempty"`
	Granted  bool             `json:"granted,omitempty"`
	// Error is the call's error: it may or may not have taken effect.
	Error string `json:"error,omitempty"`
}

// commitRecorder appends every AuthorizeCommit call to a history file.
// Each line goes out in one unbuffered write, so a killed process loses
// nothing it recorded.
type commitRecorder struct {
	id     string
	pid    int
	logger *slog.Logger
	seq    atomic.Uint64
	mu     sync.Mutex
	f      *os.File
}

func openCommitRecorder(path, id string, logger *slog.Logger) (*commitRecorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("commit history: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &commitRecorder{id: id, pid: os.Getpid(), logger: logger, f: f}, nil
}

// intercept records AuthorizeCommit calls; other calls pass untouched.
func (r *commitRecorder) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if method != czpb.Executor_AuthorizeCommit_FullMethodName {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	c := CommitCall{Executor: r.id, PID: r.pid, Seq: r.seq.Add(1), Call: time.Now().UnixNano()}
	if q, ok := req.(*czpb.AuthorizeRequest); ok {
		json.Unmarshal(q.AttemptJson, &c.Attempt) // a bad one is refused by the leader, and recorded so
	}
	r.write(c)
	err := invoker(ctx, method, req, reply, cc, opts...)
	c.Return, c.Done = time.Now().UnixNano(), true
	if err != nil {
		c.Error = err.Error()
	} else if resp, ok := reply.(*czpb.AuthorizeResponse); ok {
		c.Granted = resp.Granted
	}
	r.write(c)
	return err
}

func (r *commitRecorder) write(c CommitCall) {
	line, _ := json.Marshal(c)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return
	}
	if _, err := r.f.Write(append(line, '\n')); err != nil {
		r.logger.Error("commit history", "err", err)
	}
}

func (r *commitRecorder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// ReadCommitHistory reads a commit history file: one CommitCall per call,
// in the order the calls were sent, each with its outcome when the file
// has its return line (Done) and without when it has not.
func ReadCommitHistory(path string) ([]CommitCall, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type key struct {
		executor string
		pid      int
		seq      uint64
	}
	var calls []CommitCall
	at := map[key]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var c CommitCall
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			// A process killed mid-write leaves a torn last line.
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		k := key{c.Executor, c.PID, c.Seq}
		if i, ok := at[k]; ok {
			if calls[i].Done {
				return nil, fmt.Errorf("%s:%d: call %s/%d/%d returned twice", path, line, c.Executor, c.PID, c.Seq)
			}
			calls[i] = c
			continue
		}
		at[k] = len(calls)
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return calls, nil
}
