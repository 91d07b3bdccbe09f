// Package raftbench measures the distributed mode on loopback: the start
// of a Raft group of coordinators, the state changes per second it
// commits (raw batched applies, and a job of trivial tasks run by remote
// executors over gRPC), for `cz bench raft`.
package raftbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	_ "github.com/celebrity-zones/cz/engine/testops" // test.noop
	"github.com/celebrity-zones/cz/executor"
	"github.com/celebrity-zones/cz/store"
)

// Options sizes the run.
type Options struct {
	Nodes     int           // coordinators (default 3)
	Tasks     int           // trivial tasks in the job (default 20000)
	Executors int           // remote executors (default 2)
	Slots     int           // CPU slots per executor (default 64)
	Raw       time.Duration // how long the raw apply phase runs (default 2s)
	Batch     int           // changes per raw log entry (default 100)
	Insecure  bool          // no mutual TLS
	Logger    *slog.Logger
}

// Result is what one run measured.
type Result struct {
	Nodes int
	// Start is from starting the coordinators to a leader running its
	// engine, with the default timing.
	Start time.Duration
	// RawChanges/s: state changes committed per second by concurrent
	// proposers, Batch changes per log entry.
	RawChanges    int
	RawPerSec     float64
	RawEntriesSec float64
	// Job: Tasks trivial tasks run by Executors remote executors; Changes
	// counts the task, attempt and stage state changes committed.
	Tasks       int
	JobTime     time.Duration
	Changes     int
	ChangesSec  float64
	TasksPerSec float64
}

// Run measures; dir holds the Raft logs, certificates and the store.
func Run(ctx context.Context, dir string, o Options) (Result, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Tasks == 0 {
		o.Tasks = 20000
	}
	if o.Executors == 0 {
		o.Executors = 2
	}
	if o.Slots == 0 {
		o.Slots = 64
	}
	if o.Raw == 0 {
		o.Raw = 2 * time.Second
	}
	if o.Batch == 0 {
		o.Batch = 100
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := Result{Nodes: o.Nodes, Tasks: o.Tasks}
	sec := coordinator.Security{Insecure: true}
	if !o.Insecure {
		certs := filepath.Join(dir, "certs")
		if err := coordinator.GenerateCerts(certs, []string{"127.0.0.1"}, time.Hour); err != nil {
			return r, err
		}
		sec = coordinator.Files(certs, "bench-token")
	}
	if err := os.MkdirAll(filepath.Join(dir, "store"), 0o755); err != nil {
		return r, err
	}
	b, err := store.OpenDir(filepath.Join(dir, "store"))
	if err != nil {
		return r, err
	}

	t0 := time.Now()
	c, err := coordinator.StartLocalCluster(filepath.Join(dir, "raft"), o.Nodes, sec, b, coordinator.DefaultTiming, o.Logger)
	if err != nil {
		return r, err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	l, err := c.WaitLeader(wctx)
	cancel()
	if err != nil {
		return r, err
	}
	r.Start = time.Since(t0)

	// The job: trivial tasks through remote executors.
	xctx, stopX := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopX()
		wg.Wait()
	}()
	for i := 0; i < o.Executors; i++ {
		x, err := executor.New(executor.Config{ID: fmt.Sprintf("bench-x%d", i+1), Resources: engine.Resources{CPU: o.Slots, MemoryMB: 1 << 20},
			Bucket: b, Security: sec, Coordinators: c.APIAddrs, DrainTimeout: time.Second, Logger: o.Logger})
		if err != nil {
			return r, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			x.Run(xctx)
		}()
	}
	cl, err := coordinator.Dial(c.APIAddrs, coordinator.Security{CAFile: sec.CAFile, Token: sec.Token, Insecure: sec.Insecure})
	if err != nil {
		return r, err
	}
	defer cl.Close()
	for {
		alive := 0
		c.Nodes[l].FSM().Read(func(s *engine.State) {
			for _, x := range s.Executors {
				if x.Alive {
					alive++
				}
			}
		})
		if alive == o.Executors {
			break
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}
	spec := engine.JobSpec{Version: 1, Name: "bench-raft", Stages: []engine.StageSpec{
		{Name: "noop", Operator: "test.noop", Partitions: o.Tasks, Resources: engine.Resources{CPU: 1}}}}
	t1 := time.Now()
	id, err := cl.Submit(ctx, spec, "")
	if err != nil {
		return r, err
	}
	j, err := cl.Wait(ctx, id, nil)
	if err != nil {
		return r, err
	}
	r.JobTime = time.Since(t1)
	if j.State != engine.JobSucceeded {
		return r, fmt.Errorf("bench job %s: %s", j.State, j.Error)
	}
	// Task: ready->running->committed; each attempt: assigned, running,
	// committed or ended; the stage and the job: a few more.
	for _, st := range j.Stages {
		for _, t := range st.Tasks {
			r.Changes += 2 + 3*len(t.Attempts)
		}
		r.Changes += 2
	}
	r.Changes += 2
	r.ChangesSec = float64(r.Changes) / r.JobTime.Seconds()
	r.TasksPerSec = float64(o.Tasks) / r.JobTime.Seconds()
	stopX()
	wg.Wait()

	// Raw: concurrent proposers, each entry a batch of changes.
	l = c.Leader()
	if l < 0 {
		return r, fmt.Errorf("no leader after the job")
	}
	ra := c.Nodes[l].Raft()
	var changes, entries atomic.Int64
	deadline := time.Now().Add(o.Raw)
	var pw sync.WaitGroup
	errs := make(chan error, 8)
	t2 := time.Now()
	for p := 0; p < 8; p++ {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				cmds := make([][]byte, o.Batch)
				for i := range cmds {
					cmds[i] = engine.Encode(engine.CmdRegisterExecutor, engine.RegisterExecutor{
						ID: fmt.Sprintf("raw-%d-%d-%d", p, k, i), Resources: engine.Resources{CPU: 1}, Time: time.Now()})
				}
				if err := ra.Apply(engine.EncodeBatch(cmds...), 10*time.Second).Error(); err != nil {
					errs <- err
					return
				}
				changes.Add(int64(o.Batch))
				entries.Add(1)
			}
		}()
	}
	pw.Wait()
	el := time.Since(t2)
	select {
	case err := <-errs:
		return r, err
	default:
	}
	r.RawChanges = int(changes.Load())
	r.RawPerSec = float64(changes.Load()) / el.Seconds()
	r.RawEntriesSec = float64(entries.Load()) / el.Seconds()
	return r, nil
}
