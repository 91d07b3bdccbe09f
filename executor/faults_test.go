package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/executor"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/store"
)

func TestParseFaults(t *testing.T) {
	for spec, want := range map[string]executor.Faults{
		"":                                   {},
		"report-twice":                       {ReportTwice: true},
		" report-delay=30ms , report-twice,": {ReportDelay: 30 * time.Millisecond, ReportTwice: true},
		"hold-commit,report-delay=1s":        {ReportDelay: time.Second, HoldCommit: true},
		"report-delay=5ms,report-twice,hold-commit": {ReportDelay: 5 * time.Millisecond, ReportTwice: true, HoldCommit: true},
	} {
		got, err := executor.ParseFaults(spec)
		if err != nil || got != want {
			t.Errorf("ParseFaults(%q) = %+v, %v; want %+v", spec, got, err, want)
			continue
		}
		if again, err := executor.ParseFaults(got.String()); err != nil || again != got {
			t.Errorf("ParseFaults(%q) = %+v, %v; want %+v (round trip)", got.String(), again, err, got)
		}
	}
	for spec, bad := range map[string]string{
		"report-delay=30":           `"report-delay=30"`,
		"report-delay":              `"report-delay"`,
		"report-delay=-1s":          `"report-delay=-1s"`,
		"report-twice=yes":          `"report-twice=yes"`,
		"hold-commit,drop-reports":  `"drop-reports"`,
		"report-twice,report-twice": `"report-twice" given twice`,
	} {
		_, err := executor.ParseFaults(spec)
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseFaults(%q) = %v; want an error naming %s", spec, err, bad)
		}
	}
}

// records is a slog handler that hands every record to a channel.
type records chan slog.Record

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r <- rec:
	default:
	}
	return nil
}
func (r records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r records) WithGroup(string) slog.Handler      { return r }

// held waits for the hold-commit line and returns its attempt.
func held(t *testing.T, logs records, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case rec := <-logs:
			if rec.Message != executor.HoldCommitMessage {
				continue
			}
			if rec.Level != slog.LevelWarn {
				t.Fatalf("%q logged at %s, want WARN", rec.Message, rec.Level)
			}
			attempt := ""
			rec.Attrs(func(a slog.Attr) bool {
				if a.Key == "attempt" {
					attempt = a.Value.String()
				}
				return true
			})
			return attempt
		case <-deadline:
			t.Fatalf("no %q line within %s", executor.HoldCommitMessage, within)
		}
	}
}

func reportRequest(t *testing.T, reps ...engine.Report) *czpb.ReportRequest {
	req := &czpb.ReportRequest{ExecutorId: "x1", Term: 3}
	for _, r := range reps {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		req.ReportsJson = append(req.ReportsJson, data)
	}
	return req
}

// TestHoldCommitInterceptor: the first ReportResults call carrying a
// committed report is never sent and blocks until its context ends;
// reports of running attempts, later commits and other calls pass.
func TestHoldCommitInterceptor(t *testing.T) {
	logs := make(records, 100)
	ic := executor.Faults{HoldCommit: true}.Interceptor(slog.New(logs))
	var sent atomic.Int32
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		sent.Add(1)
		return nil
	}
	call := func(ctx context.Context, method string, req any) error {
		return ic(ctx, method, req, new(czpb.ReportResponse), nil, invoker)
	}
	a := engine.AttemptID{Job: "j1", Stage: "nums", Partition: 3, Attempt: 1}
	running := engine.Report{Attempt: a, State: engine.AttemptRunning, Time: time.Now()}
	committed := engine.Report{Attempt: a, State: engine.AttemptCommitted, Time: time.Now(),
		Outputs: []engine.Output{{Name: "numbers", Key: engine.AttemptPrefix(a) + "numbers"}}}
	ctx := context.Background()

	if err := call(ctx, czpb.Executor_ReportResults_FullMethodName, reportRequest(t, running)); err != nil || sent.Load() != 1 {
		t.Fatalf("a running report: %v, %d calls sent; want it sent", err, sent.Load())
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- call(hctx, czpb.Executor_ReportResults_FullMethodName, reportRequest(t, running, committed))
	}()
	if got := held(t, logs, 10*time.Second); got != a.String() {
		t.Fatalf("held attempt=%q, want %q", got, a.String())
	}
	select {
	case err := <-done:
		t.Fatalf("the held call returned (%v) before its context ended", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the held call returned %v, want context.Canceled", err)
	}
	if sent.Load() != 1 {
		t.Fatalf("%d calls sent; the held one must never be", sent.Load())
	}
	// Only the first commit is held.
	if err := call(ctx, czpb.Executor_ReportResults_FullMethodName, reportRequest(t, committed)); err != nil || sent.Load() != 2 {
		t.Fatalf("a second committed report: %v, %d calls sent; want it sent", err, sent.Load())
	}
	if err := call(ctx, czpb.Executor_Register_FullMethodName, &czpb.RegisterRequest{ExecutorId: "x1"}); err != nil || sent.Load() != 3 {
		t.Fatalf("Register: %v, %d calls sent; want it sent", err, sent.Load())
	}
	if ic := (executor.Faults{}).Interceptor(nil); ic != nil {
		t.Fatal("no faults: want no interceptor")
	}
}

// TestReportTwiceInterceptor: each report goes out twice, the caller gets
// the first response.
func TestReportTwiceInterceptor(t *testing.T) {
	ic := executor.Faults{ReportTwice: true, ReportDelay: 5 * time.Millisecond}.Interceptor(slog.New(make(records)))
	var mu sync.Mutex
	sent := map[*czpb.ReportRequest]int{}
	var all sync.WaitGroup
	all.Add(6)
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		defer all.Done()
		mu.Lock()
		defer mu.Unlock()
		r := req.(*czpb.ReportRequest)
		sent[r]++
		reply.(*czpb.ReportResponse).Refused = []string{"call " + strings.Repeat("I", sent[r])}
		return nil
	}
	for range 3 {
		req, resp := reportRequest(t), new(czpb.ReportResponse)
		if err := ic(context.Background(), czpb.Executor_ReportResults_FullMethodName, req, resp, nil, invoker); err != nil {
			t.Fatal(err)
		}
		if len(resp.Refused) != 1 || resp.Refused[0] != "call I" {
			t.Fatalf("the caller got %v, want the first call's response", resp.Refused)
		}
	}
	all.Wait()
	for req, n := range sent {
		if n != 2 {
			t.Fatalf("request %p sent %d times, want 2", req, n)
		}
	}
}

// faultyExecutor starts an executor that injects faults into its calls
// to the leader.
func (h *harness) faultyExecutor(id string, faults string, logger *slog.Logger) *executor.Executor {
	f, err := executor.ParseFaults(faults)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.start(executor.Config{ID: id, Resources: engine.Resources{CPU: 2, MemoryMB: 1024}, DrainTimeout: time.Second, Faults: f, Logger: logger})
}

// numbersSum is 8 test.numbers tasks (10 numbers each, 0..79) summed by
// one test.sum task: 3160.
func numbersSum(name string) engine.JobSpec {
	return engine.JobSpec{Version: engine.SpecVersion, Name: name, MaxAttempts: 3, Stages: []engine.StageSpec{
		{Name: "numbers", Operator: "test.numbers", Partitions: 8, Params: map[string]string{"n": "10"}, Resources: engine.Resources{CPU: 1}},
		{Name: "sum", Operator: "test.sum", Partitions: 1, Upstream: []string{"numbers"}, Params: map[string]string{"from": "numbers"}, Resources: engine.Resources{CPU: 1}},
	}}
}

// checkOnce checks that every task committed exactly one attempt with
// one output, and that the sum is 0..79 once each.
func (h *harness) checkOnce(j *engine.Job) {
	t := h.t
	t.Helper()
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	if err := j.CheckCommittedOnce(1); err != nil {
		t.Error(err)
	}
	data, err := store.ReadAll(h.ctx, h.bucket, j.Task("sum", 0).Outputs[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != "3160" {
		t.Fatalf("sum = %s, want 3160 (0..79 once each)", got)
	}
}

// TestClusterDelayedAndDuplicatedReports: both executors send every
// report late and twice over gRPC to the Raft leader; each task commits
// once and the sum is exact.
func TestClusterDelayedAndDuplicatedReports(t *testing.T) {
	h := start(t)
	h.faultyExecutor("e1", "report-delay=30ms,report-twice", logger())
	h.faultyExecutor("e2", "report-delay=30ms,report-twice", logger())
	id, err := h.client.Submit(h.ctx, numbersSum("dup-reports"), "")
	if err != nil {
		t.Fatal(err)
	}
	j, err := h.client.Wait(h.ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.checkOnce(j)
}

// TestClusterExecutorDiesBeforeCommitAck: the executor holds its first
// committed report (its outputs are uploaded) and dies; the attempt is
// written off, the task runs again on another executor and commits once.
func TestClusterExecutorDiesBeforeCommitAck(t *testing.T) {
	h := start(t)
	logs := make(records, 1000)
	victim := h.faultyExecutor("victim", "hold-commit", slog.New(logs))
	id, err := h.client.Submit(h.ctx, numbersSum("die-before-ack"), "")
	if err != nil {
		t.Fatal(err)
	}
	heldID := held(t, logs, 30*time.Second)
	victim.Crash()
	h.executor("healthy", 2, time.Second)
	j, err := h.client.Wait(h.ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.checkOnce(j)
	found := false
	for _, st := range j.Stages {
		for _, task := range st.Tasks {
			for _, a := range task.Attempts {
				aid := engine.AttemptID{Job: j.ID, Stage: st.Name, Partition: task.Partition, Attempt: a.Num}
				if aid.String() != heldID {
					continue
				}
				found = true
				if a.State == engine.AttemptCommitted || task.Committed == a.Num {
					t.Fatalf("the held attempt %s is %s (task committed %d): its commit must never have reached the leader", heldID, a.State, task.Committed)
				}
				if c := task.Attempt(task.Committed); c == nil || c.Executor != "healthy" {
					t.Fatalf("%s/p%d committed attempt %d on %v, want it on the healthy executor", st.Name, task.Partition, task.Committed, c)
				}
			}
		}
	}
	if !found {
		t.Fatalf("the held attempt %s is not in the job", heldID)
	}
}
