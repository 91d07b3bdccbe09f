package local

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/store"
)

// Embedded is an engine with in-process executors, running: Spark's local
// mode. Stop it when done.
type Embedded struct {
	Engine    *engine.Engine
	Executors []*Executor
	cancel    context.CancelFunc
	stopped   chan error
}

// Start runs an engine over b with one in-process executor per entry of
// slots (each its own pool), named local-1, local-2, ...
func Start(b store.Bucket, logger *slog.Logger, slots ...engine.Resources) (*Embedded, error) {
	eng := engine.New(engine.Config{Bucket: b, Logger: logger})
	m := &Embedded{Engine: eng, stopped: make(chan error, 1)}
	for i, res := range slots {
		x := New(fmt.Sprintf("local-%d", i+1), res, b, logger)
		if err := eng.AddExecutor(x); err != nil {
			return nil, err
		}
		m.Executors = append(m.Executors, x)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { m.stopped <- eng.Run(ctx) }()
	return m, nil
}

// Stop stops the engine (flushing event logs) and its executors.
func (m *Embedded) Stop() {
	m.cancel()
	<-m.stopped
	for _, x := range m.Executors {
		x.Close()
	}
}

// Run submits a job and waits for its end.
func (m *Embedded) Run(ctx context.Context, spec engine.JobSpec) (*engine.Job, error) {
	id, err := m.Engine.Submit(spec, "")
	if err != nil {
		return nil, err
	}
	return m.Engine.Wait(ctx, id)
}

// MachineResources is what this machine offers: its CPUs, no GPU unless
// told, and its memory.
func MachineResources(gpus int) engine.Resources {
	return engine.Resources{CPU: runtime.NumCPU(), GPU: gpus, MemoryMB: memTotalMB()}
}

func memTotalMB() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 4096
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return kb / 1024
			}
		}
	}
	return 4096
}
