package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/executor"
	"github.com/celebrity-zones/cz/internal/testenv"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/store"
)

var timing = coordinator.LoopbackTiming

func logger() *slog.Logger { return testenv.Logger() }

type harness struct {
	t       *testing.T
	ctx     context.Context
	sec     coordinator.Security
	bucket  store.Bucket
	cluster *coordinator.LocalCluster
	client  *coordinator.Client
}

func start(t *testing.T) *harness {
	certs := t.TempDir()
	if err := coordinator.GenerateCerts(certs, []string{"127.0.0.1", "localhost"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	sec := coordinator.Files(certs, "s3cret")
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := coordinator.StartLocalCluster(t.TempDir(), 3, sec, b, timing, logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := coordinator.Dial(c.APIAddrs, coordinator.Security{CAFile: sec.CAFile, Token: sec.Token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return &harness{t: t, ctx: ctx, sec: sec, bucket: b, cluster: c, client: cl}
}

func (h *harness) executor(id string, cpu int, drain time.Duration, holds ...string) *executor.Executor {
	return h.start(executor.Config{ID: id, Resources: engine.Resources{CPU: cpu, MemoryMB: 1024}, Holds: holds, DrainTimeout: drain, Logger: logger()})
}

// start runs an executor of the harness's cluster until the test ends;
// cfg's bucket, security and seeds are the harness's.
func (h *harness) start(cfg executor.Config) *executor.Executor {
	cfg.Bucket, cfg.Security, cfg.Seeds, cfg.GossipBind = h.bucket, h.sec, h.cluster.Seeds(), "127.0.0.1:0"
	x, err := executor.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		x.Run(ctx)
	}()
	h.t.Cleanup(func() {
		cancel()
		<-done
	})
	return x
}

// until polls the job until cond holds.
func (h *harness) until(id string, what string, cond func(*engine.Job) bool) *engine.Job {
	h.t.Helper()
	for {
		j, err := h.client.Job(h.ctx, id)
		if err == nil && cond(j) {
			return j
		}
		if h.ctx.Err() != nil {
			h.t.Fatalf("waiting for %s: %v (last error %v)", what, h.ctx.Err(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func running(stage string, n int) func(*engine.Job) bool {
	return func(j *engine.Job) bool {
		st := j.Stage(stage)
		k := 0
		for _, t := range st.Tasks {
			for _, a := range t.Attempts {
				if a.State == engine.AttemptRunning {
					k++
				}
			}
		}
		return k >= n
	}
}

var gateSeq atomic.Int64

// gate names a fresh gate: gates are process-wide and open only once.
func gate(name string) string { return fmt.Sprintf("%s-%d", name, gateSeq.Add(1)) }

func spec(name, gate string, gated int) engine.JobSpec {
	return engine.JobSpec{Version: 1, Name: name, Params: map[string]string{"n": "10"}, MaxAttempts: 2, Stages: []engine.StageSpec{
		{Name: "nums", Operator: "test.numbers", Partitions: 6, Resources: engine.Resources{CPU: 1}},
		{Name: "hold", Operator: "test.gate", Partitions: gated, Upstream: []string{"nums"}, Resources: engine.Resources{CPU: 1},
			Params: map[string]string{"gate": gate}},
		{Name: "total", Operator: "test.sum", Partitions: 1, Upstream: []string{"nums", "hold"}, Resources: engine.Resources{CPU: 1},
			Params: map[string]string{"from": "nums"}},
	}}
}

func (h *harness) total(j *engine.Job) string {
	h.t.Helper()
	if j.State != engine.JobSucceeded {
		h.t.Fatalf("job %s is %s: %s", j.ID, j.State, j.Error)
	}
	outs := j.Task("total", 0).Outputs
	if len(outs) != 1 {
		h.t.Fatalf("total has %d outputs", len(outs))
	}
	data, err := store.ReadAll(h.ctx, h.bucket, outs[0].Key)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := store.ReadAll(h.ctx, h.bucket, "jobs/"+j.ID+"/manifest.json"); err != nil {
		h.t.Fatalf("job manifest: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// TestClusterSurvivesLeaderAndExecutorLoss runs jobs on 3 coordinators
// (real Raft over mutual TLS, raft-wal, gRPC, gossip) and 2-3 executors
// on loopback: the leader is killed mid-job, then an executor, then one
// drains with work it cannot finish; every job completes with the right
// answer.
func TestClusterSurvivesLeaderAndExecutorLoss(t *testing.T) {
	h := start(t)
	x1 := h.executor("e1", 2, time.Minute)
	h.executor("e2", 2, time.Minute)

	// Idempotent submit through whichever coordinator answers.
	g1, g2, g3 := gate("cluster-leader-loss"), gate("cluster-executor-loss"), gate("cluster-drain")
	s := spec("leader-loss", g1, 2)
	id, err := h.client.Submit(h.ctx, s, "event-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.client.Submit(h.ctx, s, "event-1")
	if err != nil || again != id {
		t.Fatalf("repeated submit: %q, %v; want %q", again, err, id)
	}

	// Kill the leader while both gated tasks run.
	h.until(id, "gated tasks running", running("hold", 2))
	old := h.cluster.Leader()
	oldTerm := h.cluster.Nodes[old].Raft().CurrentTerm()
	h.cluster.Kill(old)
	now, err := h.cluster.WaitLeader(h.ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Fencing: the new leader refuses results under the old term.
	conn, err := grpc.NewClient(h.cluster.APIAddrs[now], mustDial(t, h.sec)...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rep, _ := json.Marshal(engine.Report{Attempt: engine.AttemptID{Job: id, Stage: "hold", Partition: 0, Attempt: 1},
		State: engine.AttemptCommitted, Time: time.Now()})
	_, err = czpb.NewExecutorClient(conn).ReportResults(h.ctx, &czpb.ReportRequest{ExecutorId: "e1", Term: oldTerm, ReportsJson: [][]byte{rep}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "stale term") {
		t.Fatalf("a report under the deposed leader's term: %v, want a stale-term refusal", err)
	}

	testops.Open(g1)
	j, err := h.client.Wait(h.ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.total(j); got != "1770" {
		t.Fatalf("sum %s, want 1770", got)
	}
	for _, tk := range j.Stage("hold").Tasks {
		if len(tk.Attempts) != 1 {
			t.Errorf("hold/p%d ran %d attempts across the leader change, want 1 (the running attempt carries on)", tk.Partition, len(tk.Attempts))
		}
	}

	// Executor loss: e1 dies with gated tasks; they run again on e2 once
	// its lease expires.
	id2, err := h.client.Submit(h.ctx, spec("executor-loss", g2, 4), "")
	if err != nil {
		t.Fatal(err)
	}
	h.until(id2, "gated tasks running", running("hold", 4))
	x1.Crash()
	testops.Open(g2)
	j2, err := h.client.Wait(h.ctx, id2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.total(j2); got != "1770" {
		t.Fatalf("sum %s, want 1770", got)
	}
	lost := 0
	for _, tk := range j2.Stage("hold").Tasks {
		for _, a := range tk.Attempts {
			if a.State == engine.AttemptLost {
				lost++
				if a.Executor != "e1" {
					t.Errorf("attempt on %s lost", a.Executor)
				}
			}
		}
		if c := tk.Attempt(tk.Committed); c.Executor != "e2" && c.Executor != "e1" {
			t.Errorf("hold/p%d committed on %q", tk.Partition, c.Executor)
		}
	}
	if lost == 0 {
		t.Fatal("no attempt of the crashed executor was written off")
	}

	// Drain with work that cannot finish in time: it is handed back and
	// runs on another executor. The gated task prefers e3, which holds
	// its locality key.
	x3 := h.executor("e3", 2, 100*time.Millisecond, "shard-7")
	s3 := spec("drain", g3, 1)
	s3.Stages[1].Locality = []string{"shard-7"}
	id3, err := h.client.Submit(h.ctx, s3, "")
	if err != nil {
		t.Fatal(err)
	}
	j3 := h.until(id3, "gated task running", running("hold", 1))
	if on := j3.Task("hold", 0).Attempt(1).Executor; on != "e3" {
		t.Fatalf("the gated task runs on %s, want e3 (locality)", on)
	}
	x3.Drain()
	j3 = h.until(id3, "gated task handed back", func(j *engine.Job) bool { return len(j.Task("hold", 0).Attempts) >= 2 })
	if a := j3.Task("hold", 0).Attempt(1); a.State != engine.AttemptLost {
		t.Fatalf("the drained attempt is %s, want lost (handed back)", a.State)
	}
	testops.Open(g3)
	j3, err = h.client.Wait(h.ctx, id3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.total(j3); got != "1770" {
		t.Fatalf("sum %s, want 1770", got)
	}
	if on := j3.Task("hold", 0).Attempt(j3.Task("hold", 0).Committed).Executor; on != "e2" {
		t.Fatalf("the handed-back task committed on %s, want e2", on)
	}
}

func mustDial(t *testing.T, sec coordinator.Security) []grpc.DialOption {
	opts, err := sec.DialOptions()
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// TestSecurity: no token, no Client service; no certificate, no
// Executor service.
func TestSecurity(t *testing.T) {
	h := start(t)
	noToken, err := coordinator.Dial(h.cluster.APIAddrs, coordinator.Security{CAFile: h.sec.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer noToken.Close()
	if _, err := noToken.Jobs(h.ctx); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListJobs without the token: %v, want Unauthenticated", err)
	}
	if _, err := h.client.Jobs(h.ctx); err != nil {
		t.Fatalf("ListJobs with the token: %v", err)
	}
	conn, err := grpc.NewClient(h.cluster.APIAddrs[0], mustDial(t, coordinator.Security{CAFile: h.sec.CAFile, Token: h.sec.Token})...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = czpb.NewExecutorClient(conn).Register(h.ctx, &czpb.RegisterRequest{ExecutorId: "intruder", Resources: &czpb.Resources{Cpu: 8}})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Register without a client certificate: %v, want Unauthenticated", err)
	}
	var bad engine.JobSpec
	bad.Version = 1
	if _, err := h.client.Submit(h.ctx, bad, ""); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad spec: %v, want InvalidArgument", err)
	}
}

// TestFollowerForwards submits, watches and cancels through a follower
// only: writes reach the leader, reads come from the follower's replica.
func TestFollowerForwards(t *testing.T) {
	h := start(t)
	h.executor("e1", 1, time.Second)
	l := h.cluster.Leader()
	f := (l + 1) % 3
	cl, err := coordinator.Dial([]string{h.cluster.APIAddrs[f]}, coordinator.Security{CAFile: h.sec.CAFile, Token: h.sec.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	info, err := cl.Cluster(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NodeId == info.LeaderId || info.LeaderApi != h.cluster.APIAddrs[l] || len(info.Members) != 3 {
		t.Fatalf("cluster as a follower sees it: %+v", info)
	}
	fs := spec("forwarded", gate("cluster-forwarded"), 1)
	key := gate("fwd") // a fresh idempotency key per run
	id, err := cl.Submit(h.ctx, fs, key)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := cl.Submit(h.ctx, fs, key); err != nil || again != id {
		t.Fatalf("repeated submit through a follower: %q, %v; want %q", again, err, id)
	}
	h.until(id, "gated task running", running("hold", 1))
	if err := cl.Cancel(h.ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
	j, err := cl.Wait(h.ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != engine.JobCancelled || !strings.Contains(j.Error, "test") {
		t.Fatalf("job %s: %s, want cancelled", j.State, j.Error)
	}
	if err := cl.Cancel(h.ctx, "no-such-job", ""); status.Code(err) != codes.NotFound {
		t.Fatalf("cancel an unknown job: %v, want NotFound", err)
	}
}

// TestRestartEveryCoordinator stops all three coordinators mid-job and
// starts them again on their raft-wal logs: the state comes back, the
// executor reconnects, its running attempts carry on and the job ends
// with the right answer.
func TestRestartEveryCoordinator(t *testing.T) {
	h := start(t)
	h.executor("e1", 2, time.Second)
	g := gate("cluster-restart")
	id, err := h.client.Submit(h.ctx, spec("restart", g, 2), "")
	if err != nil {
		t.Fatal(err)
	}
	h.until(id, "gated tasks running", running("hold", 2))
	for i := range h.cluster.Nodes {
		h.cluster.Kill(i)
	}
	for i := range h.cluster.Nodes {
		if err := h.cluster.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.cluster.WaitLeader(h.ctx); err != nil {
		t.Fatal(err)
	}
	testops.Open(g)
	j, err := h.client.Wait(h.ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.total(j); got != "1770" {
		t.Fatalf("sum %s, want 1770", got)
	}
	for _, tk := range j.Stage("hold").Tasks {
		if len(tk.Attempts) != 1 {
			t.Errorf("hold/p%d ran %d attempts across the restart, want 1", tk.Partition, len(tk.Attempts))
		}
	}
}
