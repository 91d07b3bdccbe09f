package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/web"
	"github.com/celebrity-zones/cz/executor"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

// fault is what a scenario does to the cluster once the daily job has
// committed its first task. (Restarting every coordinator mid-job is
// covered by executor.TestRestartEveryCoordinator.)
type fault struct {
	name string
	long bool
	hit  func(c *coordinator.LocalCluster) error
}

// TestClusterFaultsChangeNothing runs the first batch and the first day
// of a sample on 3 coordinators and 2 executors (TLS, tokens, gossip, real
// Raft over loopback), every bucket on versitygw, hits the cluster in the
// middle of the daily job, and checks the ledger against the same sample
// run on the embedded engine.
func TestClusterFaultsChangeNothing(t *testing.T) {
	faults := []fault{
		{name: "kill the leader", hit: func(c *coordinator.LocalCluster) error { c.Kill(c.Leader()); return nil }},
	}
	srv := testenv.StartS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	photos, err := sample.LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	opt := sample.Options{Seed: 51, Days: 1, VideosPerDay: 6}

	// The baseline: the embedded engine over its own buckets.
	base := openS3World(t, srv, "base-", srv.Endpoint, true)
	ans, err := sample.Generate(ctx, base.b, photos, opt)
	if err != nil {
		t.Fatal(err)
	}
	baseJobs := runAll(t, base, ans)
	problems, baseline := Check(ctx, base.b, base.work, baseJobs, ans, base.cfg, model, nil)
	for _, p := range problems {
		t.Errorf("embedded run: %s", p)
	}

	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			if f.long && !long() {
				t.Skip("long scenario: make e2e")
			}
			w := openS3World(t, srv, fmt.Sprintf("f%d-", i), srv.Endpoint, true)
			if _, err := sample.Generate(ctx, w.b, photos, opt); err != nil {
				t.Fatal(err)
			}
			finished, hit := runOnCluster(t, ctx, w, ans, f)
			if !hit {
				t.Fatal("the fault never happened: the daily job showed no progress before it ended")
			}
			problems, _ := Check(ctx, w.b, w.work, finished, ans, w.cfg, model, baseline)
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

// startCluster starts 3 coordinators (TLS, token) and 2 executors over
// the work store, for the rest of the test, and a client.
func startCluster(t *testing.T, ctx context.Context, work store.Bucket) (*coordinator.LocalCluster, *coordinator.Client, coordinator.Security, string) {
	t.Helper()
	certs := t.TempDir()
	if err := coordinator.GenerateCerts(certs, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	sec := coordinator.Files(certs, "e2e-token")
	c, err := coordinator.StartLocalCluster(t.TempDir(), 3, sec, work, coordinator.LoopbackTiming, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	xctx, stopExecutors := context.WithCancel(ctx)
	t.Cleanup(func() { stopExecutors(); wg.Wait() })
	for _, id := range []string{"x1", "x2"} {
		x, err := executor.New(executor.Config{ID: id, Resources: engine.Resources{CPU: 2, MemoryMB: 4096}, Bucket: work,
			Security: sec, Seeds: c.Seeds(), GossipBind: "127.0.0.1:0", DrainTimeout: time.Second, Logger: testenv.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); x.Run(xctx) }()
	}
	cl, err := coordinator.Dial(c.APIAddrs, coordinator.Security{CAFile: sec.CAFile, Token: sec.Token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return c, cl, sec, certs
}

// TestSlowExecutorIsRacedOnTheCluster: one task's first attempt straggles
// on a 3-coordinator, 2-executor cluster; the leader launches a
// speculative copy, the job finishes, each partition commits once and the
// visible output is the committed attempt's.
func TestSlowExecutorIsRacedOnTheCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	work, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, cl, _, _ := startCluster(t, ctx, work)
	spec := engine.JobSpec{Version: engine.SpecVersion, Name: "straggler", Speculation: true, Stages: []engine.StageSpec{
		{Name: "work", Operator: "test.sleep", Partitions: 4, Params: map[string]string{"sleep": "100ms", "straggler": "2", "straggle": "20s"}}}}
	id, err := cl.Submit(ctx, spec, "straggler")
	if err != nil {
		t.Fatal(err)
	}
	j, err := cl.Wait(ctx, id, nil)
	if err != nil || j.State != engine.JobSucceeded {
		t.Fatalf("job: %v %v", err, j)
	}
	st := j.Stage("work")
	if n := len(st.Tasks[2].Attempts); n < 2 {
		t.Fatalf("the straggling task had %d attempt(s): no speculative copy was launched", n)
	}
	for _, task := range st.Tasks {
		committed := 0
		for _, a := range task.Attempts {
			if a.State == engine.AttemptCommitted {
				committed++
			}
		}
		if committed != 1 || len(task.Outputs) != 1 {
			t.Fatalf("p%d: %d committed attempts, %d outputs; want 1 and 1", task.Partition, committed, len(task.Outputs))
		}
		data, err := store.ReadAll(ctx, work, task.Outputs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("/work/p%d/a%d", task.Partition, task.Committed); !strings.HasSuffix(string(data), want) {
			t.Fatalf("p%d: visible output %q is not the committed attempt's (%s)", task.Partition, data, want)
		}
	}
}

// runOnCluster runs the sample's first batch and first day on a fresh
// cluster, applying f during the daily job; it returns the finished jobs
// and whether the fault was applied.
func runOnCluster(t *testing.T, ctx context.Context, w s3World, ans *sample.Answer, f fault) ([]*engine.Job, bool) {
	t.Helper()
	c, cl, sec, certs := startCluster(t, ctx, w.work)
	batch, _ := contracts.ParseBatchID(ans.Batches[0].Batch)
	day, _ := contracts.ParseDate(ans.Days[0])
	hit := false
	var finished []*engine.Job
	for _, spec := range []engine.JobSpec{jobs.BatchSpec(batch, w.cfg), jobs.DailySpec(day, w.cfg)} {
		id, err := cl.Submit(ctx, spec, spec.Name)
		if err != nil {
			t.Fatal(err)
		}
		j, err := cl.Wait(ctx, id, func(sum *czpb.JobSummary) {
			if !hit && strings.HasPrefix(sum.Name, layout.DailyRunner) && sum.Committed > 0 {
				hit = true
				if err := f.hit(c); err != nil {
					t.Errorf("%s: %v", f.name, err)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if j.State != engine.JobSucceeded {
			t.Fatalf("%s: %s: %s", spec.Name, j.State, j.Error)
		}
		finished = append(finished, j)
	}
	checkNoSecrets(t, c, finished, []string{sec.Token, os.Getenv("AWS_SECRET_ACCESS_KEY")}, certs)
	return finished, hit
}

// checkNoSecrets reads every page of the leader's status page and its
// JSON API and fails if the cluster token, the S3 secret key or any
// private-key material appears in them.
func checkNoSecrets(t *testing.T, c *coordinator.LocalCluster, finished []*engine.Job, secrets []string, certs string) {
	t.Helper()
	keys, _ := filepath.Glob(filepath.Join(certs, "*key*.pem"))
	for _, k := range keys {
		data, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 2 {
			secrets = append(secrets, lines[1]) // a line of the key's base64 body
		}
	}
	n := c.Nodes[max(c.Leader(), 0)]
	srv := httptest.NewServer(web.Handler(web.Live(n.View()), n.View().Metrics().Registry, nil))
	defer srv.Close()
	paths := []string{"/", "/executors", "/metrics", "/api/jobs", "/api/executors"}
	for _, j := range finished {
		paths = append(paths, "/jobs/"+j.ID, "/api/jobs/"+j.ID)
	}
	for _, p := range paths {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status page %s: %s", p, resp.Status)
		}
		for _, secret := range secrets {
			if secret != "" && strings.Contains(string(body), secret) {
				t.Errorf("status page %s shows a secret (%.6s…)", p, secret)
			}
		}
	}
}
