package e2e

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/store"
)

// TestSoakManySmallJobs runs many small jobs back to back (bounded in
// count) and checks that goroutines return to where they started and
// that the heap grows by no more than a small, fixed amount per job
// (the state machine keeps finished jobs' records).
func TestSoakManySmallJobs(t *testing.T) {
	jobs := 200
	if long() {
		jobs = 2000
	}
	ctx := context.Background()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := local.Start(b, nil, engine.Resources{CPU: 8, MemoryMB: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	run := func(i int) {
		spec := engine.JobSpec{Version: engine.SpecVersion, Name: fmt.Sprintf("soak-%d", i), Stages: []engine.StageSpec{
			{Name: "numbers", Operator: "test.numbers", Partitions: 4, Params: map[string]string{"n": "5"}},
			{Name: "sum", Operator: "test.sum", Partitions: 1, Upstream: []string{"numbers"}, Params: map[string]string{"from": "numbers"}},
		}}
		j, err := m.Run(ctx, spec)
		if err != nil || j.State != engine.JobSucceeded {
			t.Fatalf("job %d: %v %v", i, err, j)
		}
	}
	// Warm up, then measure.
	for i := range 20 {
		run(i)
	}
	heap0, g0 := settle()
	for i := range jobs {
		run(1000 + i)
	}
	heap1, g1 := settle()
	perJob := (int64(heap1) - int64(heap0)) / int64(jobs)
	t.Logf("%d jobs: goroutines %d -> %d, heap %d KiB -> %d KiB (%d B/job)", jobs, g0, g1, heap0>>10, heap1>>10, perJob)
	if g1 > g0+5 {
		t.Errorf("goroutines grew from %d to %d over %d jobs: a leak", g0, g1, jobs)
	}
	if perJob > 64<<10 {
		t.Errorf("heap grew %d B per job, want < 64 KiB (finished jobs' records only)", perJob)
	}
}

func settle() (heap uint64, goroutines int) {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, runtime.NumGoroutine()
}
