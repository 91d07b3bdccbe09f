package bench

import (
	"context"
	"testing"
)

// BenchmarkTrivialTasks runs trivial tasks through the embedded engine;
// `cz bench engine` runs the same beside Dask.
func BenchmarkTrivialTasks(b *testing.B) {
	for b.Loop() {
		r, err := Engine(context.Background(), b.TempDir(), Options{Tasks: 5000})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.TasksPerSec, "tasks/s")
		b.ReportMetric(float64(r.FirstTask.Microseconds())/1000, "first-task-ms")
	}
}

func TestEngineBenchRuns(t *testing.T) {
	r, err := Engine(context.Background(), t.TempDir(), Options{Tasks: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.Tasks != 200 || r.TasksPerSec <= 0 || r.FirstTask <= 0 {
		t.Fatalf("result %+v: want 200 tasks with a positive rate and first-task time", r)
	}
}
