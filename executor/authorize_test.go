package executor_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/executor"
)

// TestAuthorizeAsksAgainAcrossALostQuorum: an attempt asks for the commit
// grant while the cluster has no leader (its leader and a follower are
// down); the executor records the failed calls and asks again until a
// new leader, in a new term, grants it, and the same attempt commits.
func TestAuthorizeAsksAgainAcrossALostQuorum(t *testing.T) {
	h := start(t)
	hist := filepath.Join(t.TempDir(), "commits.jsonl")
	x, err := executor.New(executor.Config{ID: "auth-1", Resources: engine.Resources{CPU: 2, MemoryMB: 1024}, Bucket: h.bucket,
		Security: h.sec, Seeds: h.cluster.Seeds(), GossipBind: "127.0.0.1:0", DrainTimeout: time.Second, CommitHistory: hist, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		x.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	g := gate("authorize-lost-quorum")
	id, err := h.client.Submit(h.ctx, engine.JobSpec{Version: 1, Name: "authorize", Stages: []engine.StageSpec{
		{Name: "hold", Operator: "test.gate", Partitions: 1, Resources: engine.Resources{CPU: 1},
			Params: map[string]string{"gate": g, "authorize": "true"}}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.until(id, "the gated task running", running("hold", 1))

	// No quorum: the attempt asks while nobody can answer.
	old := h.cluster.Leader()
	other := (old + 1) % 3
	h.cluster.Kill(old)
	h.cluster.Kill(other)
	testops.Open(g)
	failed := 0
	for failed == 0 {
		calls, err := executor.ReadCommitHistory(hist)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			if c.Done && c.Error != "" {
				failed++
			}
		}
		if h.ctx.Err() != nil {
			t.Fatalf("no failed AuthorizeCommit call was recorded while the quorum was lost: %+v", calls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.cluster.Restart(other); err != nil {
		t.Fatal(err)
	}
	j, err := h.client.Wait(h.ctx, id, nil)
	if err != nil || j.State != engine.JobSucceeded {
		t.Fatalf("job: %v %v", err, j)
	}
	if task := j.Task("hold", 0); task.Committed != 1 || len(task.Attempts) != 1 {
		t.Fatalf("committed attempt %d of %d; want the first and only one", task.Committed, len(task.Attempts))
	}
	calls, err := executor.ReadCommitHistory(hist)
	if err != nil {
		t.Fatal(err)
	}
	last := calls[len(calls)-1]
	if want := (engine.AttemptID{Job: id, Stage: "hold", Partition: 0, Attempt: 1}); !last.Done || !last.Granted || last.Attempt != want {
		t.Fatalf("last call %+v; want %s granted", last, want)
	}
	t.Logf("%d calls, %d failed while the quorum was lost, then granted", len(calls), failed)
}
