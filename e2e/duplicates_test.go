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
	j := runNumbersSum(t, e, "dup-results", 8)
	if err := j.CheckCommittedOnce(1); err != nil {
		t.Error(err)
	}
	data, err := store.ReadAll(ctx, b, j.Task("sum", 0).Outputs[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != "3160" {
		t.Fatalf("sum = %s, want 3160 (0..79 once each)", got)
	}
}

// dying swallows the report of the first attempt it finishes, as an
// executor killed after uploading its output but before the engine heard
// of it, and then is declared lost.
type dying struct {
	engine.Executor
	lost func()
	once sync.Once
}

func (d *dying) Launch(spec engine.TaskSpec, report func(engine.Report)) {
	d.Executor.Launch(spec, func(r engine.Report) {
		swallowed := false
		if r.State == engine.AttemptCommitted {
			d.once.Do(func() { swallowed = true; go d.lost() })
		}
		if !swallowed {
			report(r)
		}
	})
}

// TestExecutorDiesAfterUploadBeforeCommit: an attempt's outputs are in
// the store but its report never arrives, and its executor is declared
// lost. The task runs again elsewhere, commits once, the visible output is
// the new attempt's, and the orphaned upload is swept.
func TestExecutorDiesAfterUploadBeforeCommit(t *testing.T) {
	ctx := context.Background()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Config{Bucket: b, Logger: testenv.Logger()})
	victim := local.New("victim", engine.Resources{CPU: 2, MemoryMB: 1024}, b, testenv.Logger())
	healthy := local.New("healthy", engine.Resources{CPU: 2, MemoryMB: 1024}, b, testenv.Logger())
	defer victim.Close()
	defer healthy.Close()
	d := &dying{Executor: victim}
	d.lost = func() { e.ExecutorLost("victim") }
	if err := e.AddExecutor(d); err != nil {
		t.Fatal(err)
	}
	if err := e.AddExecutor(healthy); err != nil {
		t.Fatal(err)
	}
	j := runNumbersSum(t, e, "die-before-ack", 6)
	id := j.ID
	rerun := 0
	keep := map[string]bool{}
	for _, st := range j.Stages {
		for _, task := range st.Tasks {
			if len(task.Attempts) > 1 {
				rerun++
			}
			for _, o := range task.Outputs {
				keep[o.Key] = true
				if !strings.Contains(o.Key, fmt.Sprintf("-a%d/", task.Committed)) {
					t.Errorf("%s/p%d: visible output %s is not the committed attempt %d's", st.Name, task.Partition, o.Key, task.Committed)
				}
			}
		}
	}
	if rerun == 0 {
		t.Fatal("no task ran twice: the executor's death changed nothing")
	}
	list, _ := b.List(ctx, "jobs/"+id+"/", "")
	for _, o := range list.Objects {
		if strings.Contains(o.Key, "/attempts/") && !keep[o.Key] {
			t.Errorf("orphaned upload of the dead attempt left behind: %s", o.Key)
		}
	}
	data, err := store.ReadAll(ctx, b, j.Task("sum", 0).Outputs[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != "1770" {
		t.Fatalf("sum = %s, want 1770 (0..59 once each)", got)
	}
}

// runNumbersSum runs e until the test ends and has it run a job of parts
// test.numbers tasks (10 numbers each) summed by one test.sum task; it
// returns the finished job, which must have succeeded.
func runNumbersSum(t *testing.T, e *engine.Engine, name string, parts int) *engine.Job {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	spec := engine.JobSpec{Version: engine.SpecVersion, Name: name, Stages: []engine.StageSpec{
		{Name: "numbers", Operator: "test.numbers", Partitions: parts, Params: map[string]string{"n": "10"}},
		{Name: "sum", Operator: "test.sum", Partitions: 1, Upstream: []string{"numbers"}, Params: map[string]string{"from": "numbers"}},
	}}
	id, err := e.Submit(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	j, err := e.Wait(context.Background(), id)
	if err != nil || j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %v %v", name, err, j)
	}
	return j
}
