package jobs

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// TestPublishWritesOnlyWithTheCommitGrant: the publish steps ask the
// commit registry before writing their shared objects; an attempt denied
// the grant ends cancelled and writes none of them, a granted one writes
// them.
func TestPublishWritesOnlyWithTheCommitGrant(t *testing.T) {
	ctx := context.Background()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		spec   func(Config) engine.JobSpec
		bucket func(*layout.Buckets) store.Bucket
		key    string
	}{
		{func(c Config) engine.JobSpec { return QualitySpec(c, day) }, func(b *layout.Buckets) store.Bucket { return b.Internal }, layout.ValidationMetrics},
		{func(c Config) engine.JobSpec { return DailySpec(day, c) }, func(b *layout.Buckets) store.Bucket { return b.External }, layout.PredictedDaily(day)},
		{func(c Config) engine.JobSpec { return DailySpec(day, c) }, func(b *layout.Buckets) store.Bucket { return b.Internal }, layout.IntermediateDaily(day) + "part-00000.parquet"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		cfg := LocalConfig(dir)
		spec := c.spec(cfg)
		stage := spec.Stage("publish")
		params := maps.Clone(spec.Params)
		maps.Copy(params, stage.Params)
		ts := engine.TaskSpec{Attempt: engine.AttemptID{Job: "j", Stage: "publish", Attempt: 2}, Operator: stage.Operator, Partitions: 1, Params: params}
		work, err := store.OpenDir(filepath.Join(dir, "engine"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := layout.Open(ctx, cfg.Buckets)
		if err != nil {
			t.Fatal(err)
		}
		var asked []engine.AttemptID
		answer := func(granted bool) engine.Authorizer {
			return func(_ context.Context, id engine.AttemptID) (bool, error) {
				asked = append(asked, id)
				return granted, nil
			}
		}
		rep := engine.RunAttemptWith(ctx, work, ts, testenv.Logger(), answer(false))
		if rep.State != engine.AttemptCancelled || len(asked) != 1 || asked[0] != ts.Attempt {
			t.Fatalf("%s denied: report %s (%s), asked %v; want cancelled after asking once for %s", stage.Operator, rep.State, rep.Error, asked, ts.Attempt)
		}
		if _, err := c.bucket(b).Stat(ctx, c.key); err == nil {
			t.Fatalf("%s wrote %s without the commit grant", stage.Operator, c.key)
		}
		rep = engine.RunAttemptWith(ctx, work, ts, testenv.Logger(), answer(true))
		if rep.State != engine.AttemptCommitted {
			t.Fatalf("%s granted: %s (%s)", stage.Operator, rep.State, rep.Error)
		}
		if _, err := c.bucket(b).Stat(ctx, c.key); err != nil {
			t.Fatalf("%s granted did not write %s: %v", stage.Operator, c.key, err)
		}
	}
}
