package local

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/store"
)

var (
	inFlight, peak atomic.Int64
	release        = make(chan struct{})
	ran            sync.Map // attempt -> true
	unblock        = make(chan struct{})
)

func init() {
	engine.Register("local_test.hold", func(ctx context.Context, t *engine.Task) error {
		ran.Store(t.ID, true)
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer inFlight.Add(-1)
		select {
		case <-release:
		case <-time.After(5 * time.Millisecond):
		}
		return nil
	})
	engine.Register("local_test.block", func(ctx context.Context, t *engine.Task) error {
		ran.Store(t.ID, true)
		<-unblock
		return nil
	})
}

type collector struct {
	mu   sync.Mutex
	reps []engine.Report
	done chan struct{}
	want int
}

func (c *collector) report(r engine.Report) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reps = append(c.reps, r)
	if r.State != engine.AttemptRunning {
		c.want--
		if c.want == 0 {
			close(c.done)
		}
	}
}

func TestPoolBoundsConcurrentTasks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		slots engine.Resources
		need  engine.Resources
		tasks int
		peak  int64
	}{
		{"cpu slots", engine.Resources{CPU: 2, MemoryMB: 100}, engine.Resources{CPU: 1}, 6, 2},
		{"gpu slots", engine.Resources{CPU: 8, GPU: 1, MemoryMB: 100}, engine.Resources{CPU: 1, GPU: 1}, 3, 1},
		{"memory", engine.Resources{CPU: 8, MemoryMB: 100}, engine.Resources{CPU: 1, MemoryMB: 40}, 5, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := store.OpenDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			peak.Store(0)
			x := New("x", tc.slots, b, nil)
			defer x.Close()
			c := &collector{done: make(chan struct{}), want: tc.tasks}
			for p := 0; p < tc.tasks; p++ {
				x.Launch(engine.TaskSpec{Attempt: engine.AttemptID{Job: "j", Stage: "s", Partition: p, Attempt: 1},
					Operator: "local_test.hold", Partitions: tc.tasks, Resources: tc.need}, c.report)
			}
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				t.Fatal("attempts did not all report")
			}
			if got := peak.Load(); got != tc.peak {
				t.Fatalf("peak concurrency %d, want %d", got, tc.peak)
			}
			for _, r := range c.reps {
				if r.State == engine.AttemptFailed {
					t.Fatalf("attempt failed: %s", r.Error)
				}
			}
		})
	}
}

func TestKilledAttemptNeverRunsOrReports(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	unblock = make(chan struct{})
	x := New("x", engine.Resources{CPU: 1, MemoryMB: 10}, b, nil)
	started := make(chan struct{}, 1)
	c := &collector{done: make(chan struct{}), want: 1}
	report := func(r engine.Report) {
		if r.State == engine.AttemptRunning {
			started <- struct{}{}
		}
		c.report(r)
	}
	first := engine.AttemptID{Job: "k", Stage: "s", Partition: 0, Attempt: 1}
	queued := engine.AttemptID{Job: "k", Stage: "s", Partition: 1, Attempt: 1}
	spec := func(id engine.AttemptID) engine.TaskSpec {
		return engine.TaskSpec{Attempt: id, Operator: "local_test.block", Partitions: 2, Resources: engine.Resources{CPU: 1}}
	}
	x.Launch(spec(first), report)
	<-started // first holds the only slot until unblocked
	x.Launch(spec(queued), report)
	x.Kill(queued)
	close(unblock)
	<-c.done
	x.Close()
	if _, ok := ran.Load(queued); ok {
		t.Fatal("a killed attempt ran")
	}
	for _, r := range c.reps {
		if r.Attempt == queued {
			t.Fatalf("a killed attempt reported %s", r.State)
		}
	}
}
