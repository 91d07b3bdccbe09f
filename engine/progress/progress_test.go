package progress

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
)

// fakeJob advances one task per call and is done after the last.
type fakeJob struct {
	mu    sync.Mutex
	calls int
}

func (f *fakeJob) get() *engine.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	st := &engine.Stage{Name: "faces", Tasks: make([]*engine.TaskStatus, 3), Done: min(f.calls-1, 3)}
	j := &engine.Job{ID: "j1", Stages: []*engine.Stage{st}}
	if st.Done == 3 {
		j.State = engine.JobSucceeded
	}
	return j
}

func TestPlainLinesOnANonTerminal(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	Follow(context.Background(), (&fakeJob{}).get, &buf, false, time.Millisecond, logger)
	out := buf.String()
	for _, want := range []string{"committed=0", "committed=1", "committed=2", "committed=3", "stage=faces"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") != 4 {
		t.Errorf("want one line per change (4), got:\n%s", out)
	}
}

func TestBarsOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	Follow(context.Background(), (&fakeJob{}).get, &buf, true, time.Millisecond, slog.Default())
	if out := buf.String(); !strings.Contains(out, "faces") || !strings.Contains(out, "3/3") {
		t.Fatalf("bars output lacks the stage and 3/3:\n%q", out)
	}
}
