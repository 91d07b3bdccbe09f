package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/notify"
	"github.com/celebrity-zones/cz/store"
)

// Local is the embedded engine running the runners in this process, like
// Spark's local mode; the same job specs run unchanged on a cluster. It
// tells the team about each job's start and end.
type Local struct {
	*local.Embedded
	// Notifier, when set, hears of every job's start, success and failure.
	Notifier *notify.Notifier
	// StatusURL is the status page's address, for links in notifications.
	StatusURL string
}

// StartLocal starts an embedded engine keeping its work (attempt outputs,
// manifests, event logs) in work, with one executor of slots CPU slots
// (0: one per core).
func StartLocal(work store.Bucket, slots int, logger *slog.Logger) (*Local, error) {
	if slots <= 0 {
		slots = runtime.NumCPU()
	}
	if logger == nil {
		logger = slog.Default()
	}
	res := local.MachineResources(0)
	res.CPU = slots
	m, err := local.Start(work, logger, res)
	if err != nil {
		return nil, err
	}
	return &Local{Embedded: m}, nil
}

// Run submits a job and waits for it, returning an error unless it
// succeeded. key makes the submission idempotent ("" for none).
func (l *Local) Run(ctx context.Context, spec engine.JobSpec, key string) (*engine.Job, error) {
	id, err := l.Engine.Submit(spec, key)
	if err != nil {
		return nil, err
	}
	l.notify(ctx, notify.JobStarted(id, spec.Name, l.StatusURL))
	j, err := l.Engine.Wait(ctx, id)
	if err != nil {
		return nil, err
	}
	l.notify(ctx, notify.JobEnded(j, l.StatusURL))
	if j.State != engine.JobSucceeded {
		return j, fmt.Errorf("job %s (%s) %s: %s", j.ID, j.Spec.Name, j.State, j.Error)
	}
	return j, nil
}

func (l *Local) notify(ctx context.Context, e notify.Event) {
	if l.Notifier == nil {
		return
	}
	// Delivery problems are logged by the notifier; they never fail a job.
	l.Notifier.Notify(ctx, e)
}

// Close stops the engine and its executor.
func (l *Local) Close() { l.Stop() }
