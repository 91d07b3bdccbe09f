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

// TestSoakOnTheSystem runs many small jobs back to back through the
// Client API of the system as processes and reads every process's
// metrics before and after: goroutines must come back to where they were
// and the heap must stay within a fixed amount per job.
func TestSoakOnTheSystem(t *testing.T) {
	jobs := 100
	if long() {
		jobs = 1000
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s := StartSystem(t, ctx, SystemOptions{Store: t.TempDir(), Executors: []ExecutorOptions{{ID: "x1", CPUs: 4}, {ID: "x2", CPUs: 4}}})
	run := func(i int) {
		spec := engine.JobSpec{Version: engine.SpecVersion, Name: fmt.Sprintf("soak-%d", i), Stages: []engine.StageSpec{
			{Name: "numbers", Operator: "test.numbers", Partitions: 4, Params: map[string]string{"n": "5"}},
			{Name: "sum", Operator: "test.sum", Partitions: 1, Upstream: []string{"numbers"}, Params: map[string]string{"from": "numbers"}},
		}}
		if j := s.Run(t, ctx, spec, ""); j.State != engine.JobSucceeded {
			t.Fatalf("job %d: %s: %s", i, j.State, j.Error)
		}
	}
	procs := append(append([]*Process(nil), s.Coordinators...), s.Executors...)
	read := func(name string) []float64 {
		var out []float64
		for _, p := range procs {
			v, err := p.Metric(name)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	for i := range 20 { // warm up
		run(i)
	}
	g0, heap0 := read("go_goroutines"), read("go_memstats_heap_alloc_bytes")
	for i := range jobs {
		run(1000 + i)
	}
	// Goroutines of finished work end shortly after it: allow them a
	// few seconds before calling it a leak.
	var g1 []float64
	for range 50 {
		g1 = read("go_goroutines")
		settled := true
		for i := range procs {
			settled = settled && g1[i] <= g0[i]+5
		}
		if settled {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	heap1 := read("go_memstats_heap_alloc_bytes")
	for i, p := range procs {
		t.Logf("%s: goroutines %.0f -> %.0f, heap %.1f -> %.1f MiB over %d jobs", p.Name, g0[i], g1[i], heap0[i]/(1<<20), heap1[i]/(1<<20), jobs)
		if g1[i] > g0[i]+5 {
			t.Errorf("%s: goroutines grew from %.0f to %.0f over %d jobs: a leak", p.Name, g0[i], g1[i], jobs)
		}
		// Without a forced collection the heap holds up to one cycle of
		// garbage: allow twice the start, 64 KiB a job and 16 MiB.
		if limit := 2*heap0[i] + float64(jobs*64<<10+16<<20); heap1[i] > limit {
			t.Errorf("%s: heap grew from %.1f to %.1f MiB over %d jobs", p.Name, heap0[i]/(1<<20), heap1[i]/(1<<20), jobs)
		}
	}
}
