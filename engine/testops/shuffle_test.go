package testops_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/store"
)

// watched counts the executors' looks at the gate object and notes any
// read of a map output made before the gate was put.
type watched struct {
	store.Bucket
	gate      string
	gateStats atomic.Int64
	opened    atomic.Bool
	mu        sync.Mutex
	early     []string
}

func (w *watched) Stat(ctx context.Context, key string) (store.Object, error) {
	if key == w.gate {
		w.gateStats.Add(1)
	}
	return w.Bucket.Stat(ctx, key)
}

func (w *watched) read(key string) {
	if strings.Contains(key, "/map/attempts/") && !w.opened.Load() {
		w.mu.Lock()
		w.early = append(w.early, key)
		w.mu.Unlock()
	}
}

func (w *watched) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	w.read(key)
	return w.Bucket.Get(ctx, key)
}

func (w *watched) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	w.read(key)
	return w.Bucket.GetRange(ctx, key, off, n)
}

// TestGatedShuffleCount runs test.shufflemap (4 tasks) into
// test.shufflecount (2 tasks) gated on an object: the reducers wait,
// without reading a map output, until the object is put; then the job
// succeeds and every key appears once, in the partition it hashes to,
// with its exact count and sum.
func TestGatedShuffleCount(t *testing.T) {
	const maps, reducers, n, keys = 4, 2, 1000, 500
	dir, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gate := "gates/reduce"
	b := &watched{Bucket: dir, gate: gate}
	e := engine.New(engine.Config{Bucket: dir, Tick: 20 * time.Millisecond, Logger: testenv.Logger()})
	for _, id := range []string{"a", "b"} {
		x := local.New(id, engine.Resources{CPU: 4, MemoryMB: 1024}, b, testenv.Logger())
		defer x.Close()
		if err := e.AddExecutor(x); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()

	spec := engine.JobSpec{Version: engine.SpecVersion, Name: "gated-shuffle", Stages: []engine.StageSpec{
		{Name: "map", Operator: "test.shufflemap", Partitions: maps,
			Params: map[string]string{"n": fmt.Sprint(n), "keys": fmt.Sprint(keys), "reducers": fmt.Sprint(reducers)}},
		{Name: "count", Operator: "test.shufflecount", Partitions: reducers, Upstream: []string{"map"},
			Params: map[string]string{"gate": gate}},
	}}
	id, err := e.Submit(spec, "")
	if err != nil {
		t.Fatal(err)
	}

	// Both reducers run and have looked for the gate a few times.
	for {
		j := e.Job(id)
		running := 0
		for _, task := range j.Stage("count").Tasks {
			for _, a := range task.Attempts {
				if a.State == engine.AttemptRunning {
					running++
				}
			}
		}
		if running == reducers && b.gateStats.Load() >= 3*reducers {
			break
		}
		if j.State.Terminal() || ctx.Err() != nil {
			t.Fatalf("job %s (%s) before the gate was put; %d reducers running, gate looked at %d times", j.State, j.Error, running, b.gateStats.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	j := e.Job(id)
	for _, task := range j.Stage("count").Tasks {
		if task.Committed != 0 || len(task.Outputs) != 0 {
			t.Fatalf("count p%d committed attempt %d before the gate was put", task.Partition, task.Committed)
		}
	}
	b.opened.Store(true)
	b.mu.Lock()
	early := b.early
	b.mu.Unlock()
	if len(early) > 0 {
		t.Fatalf("map outputs read before the gate was put: %v", early)
	}
	if err := store.PutBytes(ctx, dir, gate, []byte("go")); err != nil {
		t.Fatal(err)
	}

	j, err = e.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	var results [][]byte
	for _, task := range j.Stage("count").Tasks {
		if len(task.Outputs) != 1 || task.Outputs[0].Name != "result" {
			t.Fatalf("count p%d outputs %v, want one \"result\"", task.Partition, task.Outputs)
		}
		data, err := store.ReadAll(ctx, dir, task.Outputs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, data)
	}
	if err := testops.CheckShuffleCounts(results, maps, n, keys, reducers, true); err != nil {
		t.Fatal(err)
	}
}
