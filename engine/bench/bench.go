// Package bench measures the engine beside Dask (Debian's
// python3-distributed) on the same machine in the same run: trivial-task
// throughput, submit-to-first-task-done latency and start-up time. Figures
// are reported as ratios, never asserted in tests.
package bench

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	_ "github.com/celebrity-zones/cz/engine/testops" // test.noop
	"github.com/celebrity-zones/cz/store"
)

// Result is one system's figures.
type Result struct {
	System string `json:"system"`
	// Start is the time to start the engine or cluster and its executors.
	Start time.Duration `json:"start"`
	// FirstTask is from submitting a one-task job to that task done.
	FirstTask time.Duration `json:"first_task"`
	// Tasks trivial tasks ran at TasksPerSec.
	Tasks       int     `json:"tasks"`
	TasksPerSec float64 `json:"tasks_per_s"`
}

// Options sizes the runs.
type Options struct {
	Tasks     int // trivial tasks in the throughput job (default 20000)
	Executors int // in-process executors, and Dask worker processes (default 2)
	Slots     int // CPU slots per cz executor (default 64; a trivial task holds one)
}

func (o *Options) defaults() {
	if o.Tasks == 0 {
		o.Tasks = 20000
	}
	if o.Executors == 0 {
		o.Executors = 2
	}
	if o.Slots == 0 {
		o.Slots = 64
	}
}

// Engine measures the embedded engine with a directory store in dir (its
// event logs and manifests are written as in production).
func Engine(ctx context.Context, dir string, o Options) (Result, error) {
	o.defaults()
	r := Result{System: "cz", Tasks: o.Tasks}
	b, err := store.OpenDir(dir)
	if err != nil {
		return r, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Now()
	slots := make([]engine.Resources, o.Executors)
	for i := range slots {
		slots[i] = engine.Resources{CPU: o.Slots, MemoryMB: 1 << 20}
	}
	m, err := local.Start(b, quiet, slots...)
	if err != nil {
		return r, err
	}
	defer m.Stop()
	r.Start = time.Since(start)

	first, err := m.Run(ctx, noopJob("first", 1))
	if err != nil {
		return r, err
	}
	if first.State != engine.JobSucceeded {
		return r, fmt.Errorf("first-task job %s: %s", first.State, first.Error)
	}
	r.FirstTask = firstDone(first)

	t0 := time.Now()
	j, err := m.Run(ctx, noopJob("throughput", o.Tasks))
	if err != nil {
		return r, err
	}
	if j.State != engine.JobSucceeded {
		return r, fmt.Errorf("throughput job %s: %s", j.State, j.Error)
	}
	r.TasksPerSec = float64(o.Tasks) / time.Since(t0).Seconds()
	return r, nil
}

func noopJob(name string, tasks int) engine.JobSpec {
	return engine.JobSpec{Version: engine.SpecVersion, Name: "bench-" + name, Stages: []engine.StageSpec{{
		Name: "noop", Operator: "test.noop", Partitions: tasks, Resources: engine.Resources{CPU: 1},
	}}}
}

// firstDone is the time from submission to the first attempt reported done.
func firstDone(j *engine.Job) time.Duration {
	var best time.Duration = -1
	for _, st := range j.Stages {
		for _, t := range st.Tasks {
			if a := t.Attempt(t.Committed); a != nil {
				if d := a.Finished.Sub(j.Submitted); best < 0 || d < best {
					best = d
				}
			}
		}
	}
	return best
}

//go:embed dask_bench.py
var daskScript string

// Dask measures a Dask LocalCluster of o.Executors worker processes with
// one thread each, running the same trivial tasks, with python (Debian's
// /usr/bin/python3 with python3-distributed).
func Dask(ctx context.Context, python string, o Options) (Result, error) {
	o.defaults()
	cmd := exec.CommandContext(ctx, python, "-c", daskScript, fmt.Sprint(o.Tasks), fmt.Sprint(o.Executors))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("dask benchmark (%s; is python3-distributed installed? `make bench-engine` installs it): %w", python, err)
	}
	var raw struct {
		Start, First, PerSec float64
		Tasks                int
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return Result{}, fmt.Errorf("dask benchmark output %q: %w", out, err)
	}
	return Result{System: "dask", Start: secs(raw.Start), FirstTask: secs(raw.First), Tasks: raw.Tasks, TasksPerSec: raw.PerSec}, nil
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
