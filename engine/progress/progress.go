// Package progress shows a running job's progress: a bar per stage (tasks
// committed, ETA) on a terminal, plain log lines otherwise.
package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/celebrity-zones/cz/engine"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Follow reports a job's progress until it ends or ctx is done: bars on w
// when tty, else a log line per stage change at most every interval.
func Follow(ctx context.Context, job func() *engine.Job, w io.Writer, tty bool, interval time.Duration, logger *slog.Logger) {
	if tty {
		bars(ctx, job, w)
		return
	}
	lines(ctx, job, interval, logger)
}

func bars(ctx context.Context, job func() *engine.Job, w io.Writer) {
	j := job()
	if j == nil {
		return
	}
	p := mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithAutoRefresh(), mpb.WithWidth(40))
	bs := map[string]*mpb.Bar{}
	for _, st := range j.Stages {
		bs[st.Name] = p.AddBar(int64(len(st.Tasks)),
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-16s", st.Name)), decor.CountersNoUnit("%d/%d", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.OnComplete(decor.EwmaETA(decor.ET_STYLE_GO, 30), "done")))
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		j = job()
		for _, st := range j.Stages {
			bs[st.Name].EwmaSetCurrent(int64(st.Done), 100*time.Millisecond)
		}
		if j.State.Terminal() {
			for _, b := range bs {
				b.Abort(false)
			}
			p.Wait()
			return
		}
		select {
		case <-ctx.Done():
			p.Shutdown()
			return
		case <-tick.C:
		}
	}
}

func lines(ctx context.Context, job func() *engine.Job, interval time.Duration, logger *slog.Logger) {
	last := map[string]int{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		j := job()
		if j == nil {
			return
		}
		for _, st := range j.Stages {
			if prev, seen := last[st.Name]; !seen || prev != st.Done {
				last[st.Name] = st.Done
				logger.Info("progress", "job", j.ID, "stage", st.Name, "state", st.State, "committed", st.Done, "tasks", len(st.Tasks))
			}
		}
		if j.State.Terminal() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
