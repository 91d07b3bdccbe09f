package coordinator

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/celebrity-zones/cz/engine"
	_ "github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/scaling"
	"github.com/celebrity-zones/cz/store"
)

// group is an executor group that only records what it is asked for.
type group struct {
	mu      sync.Mutex
	desired int
	asked   []int
}

func (g *group) Capacity(context.Context) (scaling.Capacity, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return scaling.Capacity{Desired: g.desired}, nil
}

func (g *group) SetDesired(_ context.Context, n int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.desired = n
	g.asked = append(g.asked, n)
	return nil
}

func (g *group) want() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.desired
}

// TestLeaderScalesExecutorsFromZero: a job arrives at a cluster with no
// executors; the leader's scaler asks the group for enough executors to
// run its ready tasks, and, once the job is cancelled and the cluster idle,
// for none.
func TestLeaderScalesExecutorsFromZero(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := &group{}
	addr, tr := raft.NewInmemTransport("")
	n, err := Start(Config{ID: "n1", Transport: tr, Peers: []Peer{{ID: "n1", RaftAddr: string(addr)}}, Timing: fastTiming,
		Security: Security{Insecure: true}, Logger: quiet(), Bucket: b,
		Scaling: Scaling{Group: g, Every: 10 * time.Millisecond,
			Policy: scaling.Policy{PerExecutor: engine.Resources{CPU: 2, MemoryMB: 1024}, Max: 5, IdleAfter: 50 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := n.Engine().Submit(engine.JobSpec{Version: engine.SpecVersion, Name: "scale", Stages: []engine.StageSpec{
		{Name: "s", Operator: "test.noop", Partitions: 6, Resources: engine.Resources{CPU: 1, MemoryMB: 100}}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	// 6 ready tasks of 1 CPU on executors of 2 CPUs: 3 executors.
	for g.want() != 3 {
		if ctx.Err() != nil {
			t.Fatalf("the group was asked for %v, want 3 executors for 6 one-CPU tasks", g.asked)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := n.Engine().Cancel(id, "test"); err != nil {
		t.Fatal(err)
	}
	for g.want() != 0 {
		if ctx.Err() != nil {
			t.Fatalf("the group was asked for %v, want 0 once idle", g.asked)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
