package raftbench

import (
	"context"
	"testing"
	"time"
)

// TestRun runs a small benchmark: the job succeeds and every count is
// consistent with it.
func TestRun(t *testing.T) {
	r, err := Run(context.Background(), t.TempDir(), Options{Tasks: 200, Slots: 8, Raw: 200 * time.Millisecond, Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.Changes < 5*200 || r.RawChanges == 0 || r.RawChanges%10 != 0 || r.Start <= 0 {
		t.Fatalf("implausible result %+v", r)
	}
}
