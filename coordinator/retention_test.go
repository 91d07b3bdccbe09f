package coordinator

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/celebrity-zones/cz/engine"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/store"
)

// TestLeaderForgetsFinishedJobsAndGetJobReadsThemFromTheStore: the
// leader's sweeper forgets all but the newest finished job on every
// replica, GetJob still answers for the forgotten one from the store, a
// retried submission with its key returns it, and an unknown job is
// NotFound.
func TestLeaderForgetsFinishedJobsAndGetJobReadsThemFromTheStore(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := startMemCluster(t, 3, func(cfg *Config) {
		cfg.Bucket = b
		cfg.Retention = engine.Retention{MaxJobs: 1, Every: 20 * time.Millisecond}
	})
	api := &clientAPI{n: c.nodes[c.leader(all(3)...)]}
	ctx := context.Background()
	spec, _ := json.Marshal(engine.JobSpec{Version: 1, Name: "kept-or-not", Stages: []engine.StageSpec{{Name: "s", Operator: "test.noop", Partitions: 1}}})
	var ids []string
	for _, key := range []string{"first", "second"} {
		r, err := api.SubmitJob(ctx, &czpb.SubmitJobRequest{SpecJson: spec, IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		// No executor runs it: cancelling finishes it.
		if _, err := api.CancelJob(ctx, &czpb.CancelJobRequest{JobId: r.JobId}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.JobId)
		time.Sleep(2 * time.Millisecond) // distinct finish times
	}
	deadline := time.Now().Add(20 * time.Second)
	for api.n.view.Job(ids[0]) != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	c.converge()
	for i, n := range c.nodes {
		if n.view.Job(ids[0]) != nil || n.view.Job(ids[1]) == nil {
			t.Fatalf("replica %d: want %s forgotten and %s kept", i, ids[0], ids[1])
		}
	}
	r, err := api.GetJob(ctx, &czpb.GetJobRequest{JobId: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	var j engine.Job
	if err := json.Unmarshal(r.JobJson, &j); err != nil {
		t.Fatal(err)
	}
	if j.ID != ids[0] || j.State != engine.JobCancelled || len(j.Stages) != 1 {
		t.Fatalf("GetJob of a forgotten job: %s %s with %d stages, want %s cancelled with 1", j.ID, j.State, len(j.Stages), ids[0])
	}
	again, err := api.SubmitJob(ctx, &czpb.SubmitJobRequest{SpecJson: spec, IdempotencyKey: "first"})
	if err != nil || again.JobId != ids[0] {
		t.Fatalf("resubmitting with a forgotten job's key: %v, %v; want %s", again, err, ids[0])
	}
	if _, err := api.CancelJob(ctx, &czpb.CancelJobRequest{JobId: ids[0]}); err != nil {
		t.Fatalf("cancelling a forgotten (finished) job: %v", err)
	}
	if _, err := api.GetJob(ctx, &czpb.GetJobRequest{JobId: "never-was"}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetJob of an unknown job: %v, want NotFound", err)
	}
}
