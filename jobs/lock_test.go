package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/store"
)

func TestLockIsExclusiveReentrantAndBreaksWhenStale(t *testing.T) {
	ctx := context.Background()
	b, _ := store.OpenDir(t.TempDir())
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	if err := acquireLock(ctx, b, "ground-truth", "job-a", time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if err := acquireLock(ctx, b, "ground-truth", "job-a", time.Hour, now); err != nil {
		t.Fatalf("the holder could not take its own lock again: %v", err)
	}
	err := acquireLock(ctx, b, "ground-truth", "job-b", time.Hour, now.Add(time.Minute))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("a second job took a held lock: err = %v, want ErrLocked", err)
	}
	if err := releaseLock(ctx, b, "ground-truth", "job-b"); err != nil {
		t.Fatal(err)
	}
	if err := acquireLock(ctx, b, "ground-truth", "job-b", time.Hour, now.Add(time.Minute)); !errors.Is(err, ErrLocked) {
		t.Fatalf("a non-holder's release dropped the lock: err = %v", err)
	}
	if err := acquireLock(ctx, b, "ground-truth", "job-b", time.Hour, now.Add(2*time.Hour)); err != nil {
		t.Fatalf("a stale lock was not broken: %v", err)
	}
	if err := releaseLock(ctx, b, "ground-truth", "job-b"); err != nil {
		t.Fatal(err)
	}
	if err := acquireLock(ctx, b, "ground-truth", "job-c", time.Hour, now); err != nil {
		t.Fatalf("lock not free after release: %v", err)
	}
}

func TestLockRace(t *testing.T) {
	ctx := context.Background()
	b, _ := store.OpenDir(t.TempDir())
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if acquireLock(ctx, b, "gt", string(rune('a'+i)), time.Hour, now) == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d runs hold the lock, want 1", won)
	}
}
