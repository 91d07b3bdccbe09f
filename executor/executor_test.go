package executor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	_ "github.com/celebrity-zones/cz/engine/testops"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/store"
)

// TestFencedAssignments: an assignment from an older term than the
// session's is refused; a repeat of a running attempt starts nothing; a
// repeat of a finished one re-sends its report.
func TestFencedAssignments(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{ID: "e1", Resources: engine.Resources{CPU: 1}, Bucket: b}); err == nil {
		t.Fatal("an executor without certificates (and not --insecure) was made")
	}
	x, err := New(Config{ID: "e1", Resources: engine.Resources{CPU: 1}, Bucket: b, Security: coordinator.Security{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer x.pool.Close()
	x.term = 5
	task := func(attempt int) []byte {
		data, _ := json.Marshal(engine.TaskSpec{Attempt: engine.AttemptID{Job: "j", Stage: "s", Partition: 0, Attempt: attempt},
			Operator: "test.gate", Partitions: 1, Params: map[string]string{"gate": "fenced-never"}, Resources: engine.Resources{CPU: 1}})
		return data
	}
	x.assigned(&czpb.Assignment{Term: 4, TaskJson: task(1)})
	if x.Running() != 0 {
		t.Fatal("ran an assignment of a deposed leader's term")
	}
	x.assigned(&czpb.Assignment{Term: 5, TaskJson: task(1)})
	x.assigned(&czpb.Assignment{Term: 5, TaskJson: task(1)})
	if x.Running() != 1 { // the task waits on a gate that never opens
		t.Fatalf("%d attempts running, want 1", x.Running())
	}
	done := engine.AttemptID{Job: "j", Stage: "s", Partition: 0, Attempt: 2}
	x.mu.Lock()
	x.done[done] = engine.Report{Attempt: done, State: engine.AttemptCommitted}
	x.mu.Unlock()
	x.assigned(&czpb.Assignment{Term: 6, TaskJson: task(2)})
	x.mu.Lock()
	defer x.mu.Unlock()
	resent := 0
	for _, r := range x.outbox {
		if r.Attempt == done && r.State == engine.AttemptCommitted {
			resent++
		}
	}
	if resent != 1 || x.running[done] {
		t.Fatalf("a finished attempt re-sent by a new leader: outbox %v, want its report once and no new run", x.outbox)
	}
}

// TestSpotNoticeDrains: once the metadata service announces an
// interruption, the executor drains (and, alone, leaves after it).
func TestSpotNoticeDrains(t *testing.T) {
	var notice atomic.Bool
	var tokens atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			tokens.Add(1)
			w.Write([]byte("tok"))
		case r.URL.Path == "/latest/meta-data/spot/instance-action" && r.Header.Get("X-aws-ec2-metadata-token") == "tok":
			if !notice.Load() {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte(`{"action": "terminate", "time": "2026-11-28T12:00:00Z"}`))
		default:
			http.Error(w, "unexpected", http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(Config{ID: "spot", Resources: engine.Resources{CPU: 1}, Bucket: b, Security: coordinator.Security{Insecure: true},
		Coordinators: []string{"127.0.0.1:1"}, SpotNoticeURL: srv.URL + "/latest/meta-data/spot/instance-action",
		SpotNoticeInterval: 5 * time.Millisecond, DrainTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	for tokens.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if x.draining() {
		t.Fatal("drained before any notice")
	}
	notice.Store(true)
	select {
	case <-x.drainCh:
	case <-ctx.Done():
		t.Fatal("no drain after the spot notice")
	}
	<-done // it cannot leave (no coordinator) and says so; it still returns
}
