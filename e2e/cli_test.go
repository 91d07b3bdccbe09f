package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/sample"
)

// TestOperatorCLI drives the system as processes with the CLI alone, as
// an operator would: `cz submit spec` twice with one idempotency key gives
// one job; `cz cancel` cancels a running one; `cz submit batch` and `cz
// submit daily --wait` run the runners over the S3 buckets and the ledger
// holds; `cz status` lists every job in its final state.
func TestOperatorCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, w, ans := s3Sample(t, ctx, "cli-", sample.Options{Seed: 71, Days: 1, VideosPerDay: 4})
	s := startOn(t, ctx, srv, w, []ExecutorOptions{{ID: "x1"}, {ID: "x2"}})

	spec := engine.JobSpec{Version: engine.SpecVersion, Name: "cli-spec", Stages: []engine.StageSpec{
		{Name: "numbers", Operator: "test.numbers", Partitions: 4, Params: map[string]string{"n": "10"}},
		{Name: "sum", Operator: "test.sum", Partitions: 1, Upstream: []string{"numbers"}, Params: map[string]string{"from": "numbers"}}}}
	slow := engine.JobSpec{Version: engine.SpecVersion, Name: "cli-slow", Stages: []engine.StageSpec{
		{Name: "work", Operator: "test.sleep", Partitions: 2, Params: map[string]string{"sleep": "1m"}}}}
	file := func(spec engine.JobSpec) string {
		data, _ := json.Marshal(spec)
		f := filepath.Join(t.TempDir(), spec.Name+".json")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	id := strings.TrimSpace(s.CLI(t, "submit", "spec", file(spec), "--idempotency-key", "cli-1"))
	if again := strings.TrimSpace(s.CLI(t, "submit", "spec", file(spec), "--idempotency-key", "cli-1")); again != id {
		t.Fatalf("a repeated submit with the same key gave job %q, the first %q", again, id)
	}
	if j := s.Wait(t, ctx, id); j.State != engine.JobSucceeded {
		t.Fatalf("spec job %s: %s", j.State, j.Error)
	}

	slowID := strings.TrimSpace(s.CLI(t, "submit", "spec", file(slow)))
	s.CLI(t, "cancel", slowID)
	if j := s.Wait(t, ctx, slowID); j.State != engine.JobCancelled {
		t.Fatalf("cancelled job %s, want cancelled", j.State)
	}

	buckets := []string{"--external", w.cfg.Buckets.External, "--internal", w.cfg.Buckets.Internal, "--content", w.cfg.Buckets.Content,
		"--partitions", strconv.Itoa(w.cfg.Partitions), "--wait"}
	var finished []*engine.Job
	for _, args := range [][]string{{"submit", "batch", "--batch", ans.Batches[0].Batch}, {"submit", "daily", "--date", ans.Days[0]}} {
		out := s.CLI(t, append(args, buckets...)...)
		runID, _, _ := strings.Cut(out, "\n")
		if !strings.Contains(out, "job "+runID+" succeeded") {
			t.Fatalf("cz %s: %s", strings.Join(args, " "), out)
		}
		finished = append(finished, s.Wait(t, ctx, runID))
	}
	s.CheckLedger(t, ctx, w.work, finished)
	problems, _ := Check(ctx, w.b, w.work, finished, ans, w.cfg, model, nil)
	for _, p := range problems {
		t.Error(p)
	}

	list := s.CLI(t, "status")
	for _, want := range [][2]string{{id, "succeeded"}, {slowID, "cancelled"}, {finished[0].ID, "succeeded"}, {finished[1].ID, "succeeded"}} {
		found := false
		for _, line := range strings.Split(list, "\n") {
			found = found || strings.Contains(line, want[0]) && strings.Contains(line, want[1])
		}
		if !found {
			t.Errorf("`cz status` does not list job %s as %s:\n%s", want[0], want[1], list)
		}
	}
}
