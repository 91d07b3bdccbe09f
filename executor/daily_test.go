package executor_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/executor"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

// predicted runs the new-zone batch then the daily runner and returns the
// day's predicted rows without their job IDs.
func predicted(t *testing.T, ctx context.Context, b *layout.Buckets, ans *sample.Answer, cfg jobs.Config,
	run func(engine.JobSpec) *engine.Job) []contracts.PredictedRow {
	t.Helper()
	batch, err := contracts.ParseBatchID(ans.Batches[0].Batch)
	if err != nil {
		t.Fatal(err)
	}
	day, err := contracts.ParseDate(ans.Days[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []engine.JobSpec{jobs.BatchSpec(batch, cfg), jobs.DailySpec(day, cfg)} {
		if j := run(spec); j.State != engine.JobSucceeded {
			t.Fatalf("%s: %s: %s", spec.Name, j.State, j.Error)
		}
	}
	data, err := store.ReadAll(ctx, b.External, layout.PredictedDaily(day))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := contracts.ParsePredicted("predicted", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i].JobID = ""
	}
	return rows
}

// embeddedPredictions runs the sample of opt on the embedded engine over
// directories: the reference the clusters must match.
func embeddedPredictions(t *testing.T, ctx context.Context, photos *sample.Photos, opt sample.Options) []contracts.PredictedRow {
	t.Helper()
	dir := t.TempDir()
	lcfg := jobs.LocalConfig(dir)
	lcfg.Partitions = 2
	lb, err := layout.Open(ctx, lcfg.Buckets)
	if err != nil {
		t.Fatal(err)
	}
	lans, err := sample.Generate(ctx, lb, photos, opt)
	if err != nil {
		t.Fatal(err)
	}
	work, err := store.OpenDir(filepath.Join(dir, "engine"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := jobs.StartLocal(work, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	want := predicted(t, ctx, lb, lans, lcfg, func(s engine.JobSpec) *engine.Job {
		j, err := eng.Run(ctx, s, "")
		if err != nil {
			t.Fatal(err)
		}
		return j
	})
	if len(want) == 0 {
		t.Fatal("the embedded run identified nobody: the comparison proves nothing")
	}
	return want
}

// TestDailyRunnerOnCluster runs the daily runner on the sample on 3
// coordinators and 2 executors with every bucket on a real S3 gateway
// (versitygw), kills the leader while the daily job runs, and matches the
// predictions of the embedded engine over the same sample.
func TestDailyRunnerOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the face pipeline twice")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	photos, err := sample.LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	opt := sample.Options{Seed: 5, Days: 1, VideosPerDay: 6}

	want := embeddedPredictions(t, ctx, photos, opt)

	// The cluster, every bucket on versitygw.
	s3 := testenv.StartS3(t)
	t.Setenv("CZ_S3_ENDPOINT", s3.Endpoint)
	t.Setenv("CZ_S3_PATH_STYLE", "true")
	t.Setenv("CZ_S3_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	cfg := jobs.Config{Partitions: 2, Buckets: layout.Config{
		External: s3.Bucket(t, "").URL(), Internal: s3.Bucket(t, "").URL(), Content: s3.Bucket(t, "").URL()}}
	cb, err := layout.Open(ctx, cfg.Buckets)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := sample.Generate(ctx, cb, photos, opt)
	if err != nil {
		t.Fatal(err)
	}
	engineBucket := s3.Bucket(t, "engine")

	certs := t.TempDir()
	if err := coordinator.GenerateCerts(certs, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	sec := coordinator.Files(certs, "daily-token")
	c, err := coordinator.StartLocalCluster(t.TempDir(), 3, sec, engineBucket, timing, logger())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"x1", "x2"} {
		x, err := executor.New(executor.Config{ID: id, Resources: engine.Resources{CPU: 2, MemoryMB: 4096}, Bucket: engineBucket,
			Security: sec, Seeds: c.Seeds(), GossipBind: "127.0.0.1:0", DrainTimeout: time.Second, Logger: logger()})
		if err != nil {
			t.Fatal(err)
		}
		xctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			x.Run(xctx)
		}()
		defer func() {
			stop()
			<-done
		}()
	}
	cl, err := coordinator.Dial(c.APIAddrs, coordinator.Security{CAFile: sec.CAFile, Token: sec.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	killed := false
	got := predicted(t, ctx, cb, ans, cfg, func(s engine.JobSpec) *engine.Job {
		id, err := cl.Submit(ctx, s, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		j, err := cl.Wait(ctx, id, func(sum *czpb.JobSummary) {
			// Kill the leader once the daily job has committed a task.
			if !killed && strings.HasPrefix(sum.Name, layout.DailyRunner) && sum.Committed > 0 {
				killed = true
				c.Kill(c.Leader())
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return j
	})
	if !killed {
		t.Error("the leader was never killed: the daily job finished before any progress was seen")
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the cluster's predictions differ from the embedded engine's:\ncluster %+v\nlocal   %+v", got, want)
	}
}
