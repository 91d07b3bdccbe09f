package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/store"
)

// Local is the embedded engine: the engine and one in-process executor in
// this process, like Spark's local mode. The same job specs run unchanged
// on a cluster.
type Local struct {
	Engine *engine.Engine
	exec   *local.Executor
	stop   context.CancelFunc
	done   chan error
}

// StartLocal starts an embedded engine keeping its work (attempt outputs,
// manifests, event logs) in work. slots is the executor's CPU slots
// (0: one per core).
func StartLocal(ctx context.Context, work store.Bucket, slots int, logger *slog.Logger) (*Local, error) {
	if slots <= 0 {
		slots = runtime.NumCPU()
	}
	if logger == nil {
		logger = slog.Default()
	}
	e := engine.New(engine.Config{Bucket: work, Logger: logger})
	ex := local.New("local-0", engine.Resources{CPU: slots, MemoryMB: 16 << 10}, work, logger)
	if err := e.AddExecutor(ex); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	l := &Local{Engine: e, exec: ex, stop: stop, done: make(chan error, 1)}
	go func() { l.done <- e.Run(ctx) }()
	return l, nil
}

// Run submits a job and waits for it, returning an error unless it
// succeeded. key makes the submission idempotent ("" for none).
func (l *Local) Run(ctx context.Context, spec engine.JobSpec, key string) (*engine.Job, error) {
	id, err := l.Engine.Submit(spec, key)
	if err != nil {
		return nil, err
	}
	j, err := l.Engine.Wait(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.State != engine.JobSucceeded {
		return j, fmt.Errorf("job %s (%s) %s: %s", j.ID, j.Spec.Name, j.State, j.Error)
	}
	return j, nil
}

// Close stops the engine and the executor.
func (l *Local) Close() {
	l.stop()
	<-l.done
	l.exec.Close()
}
