package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/store"
)

// TestKillExecutorHoldingShuffleBlocks: map tasks keep their shuffle
// output on the executors that ran them (placement "served"); once every
// map task has committed, the executor holding most of them is SIGKILLed
// before any reducer has read a block. The reducers find those blocks
// gone, the map tasks that ran there run again elsewhere, and every record
// reaches its reducer exactly once.
func TestKillExecutorHoldingShuffleBlocks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	work, s := StartOnDir(t, ctx, ExecutorOptions{ID: "x1", Blocks: true}, ExecutorOptions{ID: "x2", Blocks: true}, ExecutorOptions{ID: "x3", Blocks: true})
	const maps, reducers, n, keys = 6, 3, 2000, 700
	gate := "gates/" + t.Name()
	spec := engine.JobSpec{Version: engine.SpecVersion, Name: "shuffle-kill", Stages: []engine.StageSpec{
		{Name: "map", Operator: "test.shufflemap", Partitions: maps, Params: map[string]string{
			"n": strconv.Itoa(n), "keys": strconv.Itoa(keys), "reducers": strconv.Itoa(reducers), "placement": "served"}},
		{Name: "count", Operator: "test.shufflecount", Partitions: reducers, Upstream: []string{"map"},
			Params: map[string]string{"from": "map", "gate": gate}},
	}}
	id, err := s.Client.Submit(ctx, spec, "shuffle-kill")
	if err != nil {
		t.Fatal(err)
	}
	// Every map task committed; the reducers wait at the gate.
	var j *engine.Job
	for {
		if j, err = s.Client.Job(ctx, id); err == nil && j.Stage("map").State == engine.TaskCommitted {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the map stage never committed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	held := map[string][]int{}
	for _, task := range j.Stage("map").Tasks {
		x := task.Attempts[task.Committed-1].Executor
		held[x] = append(held[x], task.Partition)
	}
	victim := ""
	for x, ps := range held {
		if victim == "" || len(ps) > len(held[victim]) {
			victim = x
		}
	}
	t.Logf("map outputs held: %v; killing %s", held, victim)
	for _, p := range s.Executors {
		if p.Name == victim {
			p.Kill()
		}
	}
	if err := store.PutBytes(ctx, work, gate, []byte("open")); err != nil {
		t.Fatal(err)
	}
	j, err = s.Client.Wait(ctx, id, nil)
	if err != nil || j.State != engine.JobSucceeded {
		t.Fatalf("job: %v %v", err, j)
	}
	s.CheckLedger(t, ctx, work, []*engine.Job{j})
	for _, p := range held[victim] {
		task := j.Stage("map").Tasks[p]
		if at := task.Attempts[task.Committed-1]; at.Executor == victim {
			t.Errorf("map p%d: its output is still the dead %s's", p, victim)
		}
	}
	// Every key once, with the count and sum of its records.
	var results [][]byte
	for _, task := range j.Stage("count").Tasks {
		data, err := store.ReadAll(ctx, work, task.Outputs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, data)
	}
	if err := testops.CheckShuffleCounts(results, maps, n, keys, reducers, true); err != nil {
		t.Fatal(err)
	}
}
