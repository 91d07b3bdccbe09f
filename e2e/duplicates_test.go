package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/store"
)

// unreliable wraps an executor so that every report reaches the engine
// late (a random delay) and twice, as results do over a network that
// retries: the engine must take each once.
type unreliable struct {
	engine.Executor
	rng *rand.Rand
	mu  sync.Mutex
}

func (u *unreliable) Launch(spec engine.TaskSpec, report func(engine.Report)) {
	u.Executor.Launch(spec, func(r engine.Report) {
		u.mu.Lock()
		d1, d2 := time.Duration(u.rng.Intn(30))*time.Millisecond, time.Duration(u.rng.Intn(60))*time.Millisecond
		u.mu.Unlock()
		go func() { time.Sleep(d1); report(r) }()
		go func() { time.Sleep(d2); report(r) }()
	})
}

// TestDelayedAndDuplicatedResults runs a two-stage job whose every result
// arrives late and twice, and checks each partition committed once with
// the committed attempt's output, and the sum is right.
func TestDelayedAndDuplicatedResults(t *testing.T) {
	ctx := context.Background()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Config{Bucket: b, Logger: testenv.Logger()})
	for i := range 2 {
		x := local.New(fmt.Sprintf("flaky-net-%d", i), engine.Resources{CPU: 2, MemoryMB: 1024}, b, testenv.Logger())
		defer x.Close()
		if err := e.AddExecutor(&unreliable{Executor: x, rng: rand.New(rand.NewSource(int64(i)))}); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	defer func() { stop(); <-done }()
	spec := engine.JobSpec{Version: engine.SpecVersion, Name: "dup-results", Stages: []engine.StageSpec{
		{Name: "numbers", Operator: "test.numbers", Partitions: 8, Params: map[string]string{"n": "10"}},
		{Name: "sum", Operator: "test.sum", Partitions: 1, Upstream: []string{"numbers"}, Params: map[string]string{"from": "numbers"}},
	}}
	id, err := e.Submit(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	j, err := e.Wait(ctx, id)
	if err != nil || j.State != engine.JobSucceeded {
		t.Fatalf("job: %v %v", err, j)
	}
	for _, st := range j.Stages {
		for _, task := range st.Tasks {
			committed := 0
			for _, a := range task.Attempts {
				if a.State == engine.AttemptCommitted {
					committed++
				}
			}
			if committed != 1 || len(task.Outputs) != 1 {
				t.Errorf("%s/p%d: %d committed attempts, %d outputs; want 1 and 1", st.Name, task.Partition, committed, len(task.Outputs))
			}
		}
	}
	data, err := store.ReadAll(ctx, b, j.Task("sum", 0).Outputs[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != "3160" {
		t.Fatalf("sum = %s, want 3160 (0..79 once each)", got)
	}
}
