// Package local is the in-process executor: it runs attempts as
// goroutines on a bounded pool of CPU slots, GPU slots and memory. It is
// what `cz local` and the tests use; remote executors speak gRPC instead.
package local

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/store"
)

// Executor runs attempts in this process.
type Executor struct {
	id     string
	res    engine.Resources
	holds  []string
	bucket store.Bucket
	logger *slog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	used    engine.Resources
	cancels map[engine.AttemptID]context.CancelFunc
	running sync.WaitGroup
	// authorize is the commit registry of Task.Authorize (UseCommitRegistry).
	authorize engine.Authorizer
}

// New returns an executor offering res, reading and writing b.
func New(id string, res engine.Resources, b store.Bucket, logger *slog.Logger) *Executor {
	if logger == nil {
		logger = slog.Default()
	}
	x := &Executor{id: id, res: res, bucket: b, logger: logger.With("executor", id),
		cancels: map[engine.AttemptID]context.CancelFunc{}}
	x.cond = sync.NewCond(&x.mu)
	return x
}

// WithHolds sets the locality keys the executor advertises.
func (x *Executor) WithHolds(keys ...string) *Executor { x.holds = keys; return x }

// UseCommitRegistry makes authorize the commit registry the attempts ask
// (Task.Authorize): the engine's, given by AddExecutor, or a remote
// executor's link to the leader. Call it before the first Launch.
func (x *Executor) UseCommitRegistry(authorize engine.Authorizer) { x.authorize = authorize }

func (x *Executor) ID() string                  { return x.id }
func (x *Executor) Resources() engine.Resources { return x.res }
func (x *Executor) Holds() []string             { return x.holds }

// Launch runs the attempt in a goroutine once the pool has room for it.
func (x *Executor) Launch(spec engine.TaskSpec, report func(engine.Report)) {
	ctx, cancel := context.WithCancel(context.Background())
	x.mu.Lock()
	x.cancels[spec.Attempt] = cancel
	x.mu.Unlock()
	x.running.Add(1)
	go func() {
		defer x.running.Done()
		defer func() {
			x.mu.Lock()
			delete(x.cancels, spec.Attempt)
			x.mu.Unlock()
			cancel()
		}()
		if !x.acquire(ctx, spec.Resources) {
			return // killed while waiting
		}
		defer x.release(spec.Resources)
		report(engine.Report{Attempt: spec.Attempt, State: engine.AttemptRunning, Time: time.Now()})
		rep := engine.RunAttemptWith(ctx, x.bucket, spec, x.logger, x.authorize)
		if ctx.Err() != nil {
			return // killed: the engine already wrote the attempt off
		}
		report(rep)
	}()
}

// Kill cancels an attempt's context.
func (x *Executor) Kill(id engine.AttemptID) {
	x.mu.Lock()
	cancel := x.cancels[id]
	x.mu.Unlock()
	if cancel != nil {
		cancel()
		x.cond.Broadcast()
	}
}

// Close kills every attempt and waits for their goroutines.
func (x *Executor) Close() {
	x.mu.Lock()
	for _, c := range x.cancels {
		c()
	}
	x.mu.Unlock()
	x.cond.Broadcast()
	x.running.Wait()
}

// acquire waits until need fits in the pool, or ctx ends.
func (x *Executor) acquire(ctx context.Context, need engine.Resources) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for !x.res.Sub(x.used).Fits(need) {
		if ctx.Err() != nil {
			return false
		}
		x.cond.Wait()
	}
	if ctx.Err() != nil {
		return false
	}
	x.used = x.used.Add(need)
	return true
}

func (x *Executor) release(need engine.Resources) {
	x.mu.Lock()
	x.used = x.used.Sub(need)
	x.mu.Unlock()
	x.cond.Broadcast()
}
