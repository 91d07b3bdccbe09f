package coordinator

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/store"
)

// lostEventLog is one node's view of the store in which, while drop
// names that node, event log writes vanish: a leader that died before it
// flushed them.
type lostEventLog struct {
	store.Bucket
	node string
	drop *atomic.Value // node ID
}

func (b *lostEventLog) Put(ctx context.Context, key string, body io.Reader) error {
	if b.drop.Load() == b.node && strings.HasPrefix(key, "jobs/") && strings.Contains(key, "/events/") {
		_, err := io.Copy(io.Discard, body)
		return err
	}
	return b.Bucket.Put(ctx, key, body)
}

// TestEventLogSurvivesLeaderThatNeverWroteIt: the first leader of a
// 3-node cluster runs a job part-way but none of its event log writes
// reach the store; it dies and the new leader finishes the job. The log
// read back has the first leader's events too: it replays to the final
// job, only moves forward and holds every attempt the first leader saw.
func TestEventLogSurvivesLeaderThatNeverWroteIt(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var drop atomic.Value
	drop.Store("")
	c := startMemCluster(t, 3, func(cfg *Config) { cfg.Bucket = &lostEventLog{Bucket: b, node: cfg.ID, drop: &drop} })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first := c.leader(all(3)...)
	drop.Store(c.nodes[first].cfg.ID)
	eng1 := c.nodes[first].leader().eng

	gate := fmt.Sprintf("event-log-failover-%d", time.Now().UnixNano())
	spec := engine.JobSpec{Version: 1, Name: "event-log-failover", Params: map[string]string{"n": "10"}, MaxAttempts: 3,
		Stages: []engine.StageSpec{
			{Name: "nums", Operator: "test.numbers", Partitions: 4, Resources: engine.Resources{CPU: 1}},
			{Name: "hold", Operator: "test.gate", Partitions: 1, Upstream: []string{"nums"}, Resources: engine.Resources{CPU: 1},
				Params: map[string]string{"gate": gate}},
			{Name: "total", Operator: "test.sum", Partitions: 1, Upstream: []string{"nums", "hold"}, Resources: engine.Resources{CPU: 1},
				Params: map[string]string{"from": "nums"}},
		}}
	x1 := local.New("x1", engine.Resources{CPU: 2, MemoryMB: 1024}, b, quiet())
	defer x1.Close()
	if err := eng1.AddExecutor(x1); err != nil {
		t.Fatal(err)
	}
	id, err := eng1.Submit(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	// Part-way: the numbers are committed and the gated task runs.
	var seen *engine.Job
	for {
		seen = eng1.Job(id)
		if seen != nil && seen.Stage("nums").State == engine.TaskCommitted && len(seen.Task("hold", 0).Attempts) == 1 &&
			seen.Task("hold", 0).Attempts[0].State == engine.AttemptRunning {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the job never got part-way: %+v", seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if evs, err := engine.ReadEventLog(ctx, b, id); err != nil || len(evs) != 0 {
		t.Fatalf("the first leader's event log writes reached the store: %d events, %v", len(evs), err)
	}

	c.isolate(first)
	if err := c.nodes[first].Close(); err != nil {
		t.Fatal(err)
	}
	var rest []int
	for i := range c.nodes {
		if i != first {
			rest = append(rest, i)
		}
	}
	second := c.leader(rest...)
	l2 := c.nodes[second].leader()
	x2 := local.New("x2", engine.Resources{CPU: 2, MemoryMB: 1024}, b, quiet())
	defer x2.Close()
	if err := l2.eng.AddExecutor(x2); err != nil {
		t.Fatal(err)
	}
	if err := l2.eng.ExecutorLost("x1"); err != nil {
		t.Fatal(err)
	}
	testops.Open(gate)
	final, err := l2.eng.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if final.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", final.State, final.Error)
	}
	<-l2.tailWritten

	events, err := engine.ReadEventLog(ctx, b, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.CheckForward(events); err != nil {
		t.Fatal(err)
	}
	once := map[string]bool{}
	for _, e := range events {
		k := fmt.Sprintf("%d %s %s/p%d/a%d %s", e.Index, e.Kind, e.Stage, e.Partition, e.Attempt, e.State)
		if once[k] {
			t.Fatalf("event %s is in the log twice", k)
		}
		once[k] = true
	}
	replayed, err := engine.ReplayJob(events)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if replayed.State != final.State || replayed.ModifyIndex != final.ModifyIndex {
		t.Fatalf("replayed job %s at %d, want %s at %d", replayed.State, replayed.ModifyIndex, final.State, final.ModifyIndex)
	}
	for _, st := range final.Stages {
		rst := replayed.Stage(st.Name)
		if rst.State != st.State || rst.Done != st.Done {
			t.Fatalf("stage %s: replayed %s with %d done, want %s with %d", st.Name, rst.State, rst.Done, st.State, st.Done)
		}
		for _, task := range st.Tasks {
			rt := replayed.Task(st.Name, task.Partition)
			if rt.State != task.State || rt.Committed != task.Committed || len(rt.Attempts) != len(task.Attempts) {
				t.Fatalf("task %s/p%d: replayed %s (attempt %d of %d), want %s (attempt %d of %d)", st.Name, task.Partition,
					rt.State, rt.Committed, len(rt.Attempts), task.State, task.Committed, len(task.Attempts))
			}
			for i, at := range task.Attempts {
				ra := rt.Attempts[i]
				if ra.State != at.State || ra.Executor != at.Executor || ra.CreateIndex != at.CreateIndex || ra.ModifyIndex != at.ModifyIndex {
					t.Fatalf("attempt %s/p%d/a%d: replayed %s on %s at %d-%d, want %s on %s at %d-%d", st.Name, task.Partition, at.Num,
						ra.State, ra.Executor, ra.CreateIndex, ra.ModifyIndex, at.State, at.Executor, at.CreateIndex, at.ModifyIndex)
				}
			}
		}
	}
	// Every attempt change the first leader applied is in the log.
	for _, st := range seen.Stages {
		for _, task := range st.Tasks {
			for _, at := range task.Attempts {
				for _, want := range []string{
					fmt.Sprintf("%d attempt %s/p%d/a%d %s", at.CreateIndex, st.Name, task.Partition, at.Num, engine.AttemptAssigned),
					fmt.Sprintf("%d attempt %s/p%d/a%d %s", at.ModifyIndex, st.Name, task.Partition, at.Num, at.State),
				} {
					if !once[want] {
						t.Errorf("the first leader's event %q is not in the log", want)
					}
				}
			}
		}
	}
}

// TestEventTailKeepsWholeRecentCommands: the tail drops the oldest
// commands, never part of one, to stay within its bounds.
func TestEventTailKeepsWholeRecentCommands(t *testing.T) {
	tail := newEventTail(5, 1<<20)
	cmd := func(index uint64, n int) []engine.Event {
		evs := make([]engine.Event, n)
		for i := range evs {
			evs[i] = engine.Event{Index: index, Job: "j", Kind: engine.KindTask, Partition: i}
		}
		return evs
	}
	indexes := func() []uint64 {
		var out []uint64
		for _, e := range tail.snapshot() {
			if len(out) == 0 || out[len(out)-1] != e.Index {
				out = append(out, e.Index)
			}
		}
		return out
	}
	tail.add(10, cmd(1, 2))
	tail.add(10, cmd(2, 2))
	tail.add(10, nil)
	tail.add(10, cmd(4, 2))
	if got := fmt.Sprint(indexes(), len(tail.snapshot())); got != "[2 4] 4" {
		t.Fatalf("after 6 events with room for 5: indexes and events %s, want [2 4] 4", got)
	}
	tail.add(10, cmd(5, 9))
	if got := fmt.Sprint(indexes(), len(tail.snapshot())); got != "[5] 9" {
		t.Fatalf("after one command larger than the bound: %s, want [5] 9", got)
	}
	small := newEventTail(100, 1000)
	small.add(900, cmd(1, 1))
	small.add(900, cmd(2, 1))
	if got := len(small.snapshot()); got != 1 || small.snapshot()[0].Index != 2 {
		t.Fatalf("byte bound: kept %d events", got)
	}
}
