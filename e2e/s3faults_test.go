package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

const model = "dlib-resnet128"

// s3World is one set of buckets on a versitygw server, reached directly
// or through a proxy.
type s3World struct {
	cfg     jobs.Config
	b       *layout.Buckets
	work    store.Bucket
	workURL string
}

func openS3World(t *testing.T, srv *testenv.S3Server, prefix, endpoint string, create bool) s3World {
	t.Helper()
	ctx := context.Background()
	url := func(name string) string {
		if create {
			srv.Open(t, prefix+name, "", true)
		}
		// Short timeouts and many attempts: the proxy's held requests
		// must time out and be retried within the test.
		return fmt.Sprintf("s3://%s%s/cz?endpoint=%s&path_style=true&timeout=1s&attempts=12", prefix, name, endpoint)
	}
	w := s3World{cfg: jobs.Config{Buckets: layout.Config{External: url("external"), Internal: url("internal"), Content: url("content")}, Partitions: 3}}
	var err error
	if w.b, err = layout.Open(ctx, w.cfg.Buckets); err != nil {
		t.Fatal(err)
	}
	w.workURL = url("work")
	if w.work, err = store.Open(ctx, w.workURL); err != nil {
		t.Fatal(err)
	}
	return w
}

// s3Sample starts versitygw, sets the test's S3 credentials and writes a
// sample into fresh buckets named prefix….
func s3Sample(t *testing.T, ctx context.Context, prefix string, opt sample.Options) (*testenv.S3Server, s3World, *sample.Answer) {
	t.Helper()
	srv := testenv.StartS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	w := openS3World(t, srv, prefix, srv.Endpoint, true)
	return srv, w, generate(t, ctx, w, opt)
}

// generate writes the sample of opt into w's buckets.
func generate(t *testing.T, ctx context.Context, w s3World, opt sample.Options) *sample.Answer {
	t.Helper()
	photos, err := sample.LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := sample.Generate(ctx, w.b, photos, opt)
	if err != nil {
		t.Fatal(err)
	}
	return ans
}

// embeddedBaseline runs the sample in w on the embedded engine and
// returns its ledger: what a run with faults must equal.
func embeddedBaseline(t *testing.T, ctx context.Context, w s3World, ans *sample.Answer) *Ledger {
	t.Helper()
	problems, baseline := Check(ctx, w.b, w.work, runAll(t, w, ans), ans, w.cfg, model, nil)
	for _, p := range problems {
		t.Errorf("run without faults: %s", p)
	}
	if baseline == nil || len(baseline.Predicted) == 0 || len(baseline.Metadata) == 0 {
		t.Fatal("the run without faults produced nothing to compare")
	}
	return baseline
}

// startOn starts the system as processes over w's engine store, with
// the S3 credentials of srv.
func startOn(t *testing.T, ctx context.Context, srv *testenv.S3Server, w s3World, xs []ExecutorOptions, env ...string) *System {
	t.Helper()
	env = append(env, "AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey)
	return StartSystem(t, ctx, SystemOptions{Store: w.workURL, Executors: xs, Env: env})
}

// runAll runs the sample's first batch and every day on an embedded engine.
func runAll(t *testing.T, w s3World, ans *sample.Answer) []*engine.Job {
	t.Helper()
	l, err := jobs.StartLocal(w.work, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	var done []*engine.Job
	batch, _ := contracts.ParseBatchID(ans.Batches[0].Batch)
	specs := []engine.JobSpec{jobs.BatchSpec(batch, w.cfg)}
	for _, d := range ans.Days {
		day, _ := contracts.ParseDate(d)
		specs = append(specs, jobs.DailySpec(day, w.cfg))
	}
	for _, s := range specs {
		j, err := l.Run(ctx, s, "")
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		done = append(done, j)
	}
	return done
}

// s3Faults gives every 53rd request a timeout, every 13th write a lost
// reply, every 7th a 503 SlowDown and every 11th a 500.
func s3Faults(n int64, r *http.Request) Fault {
	write := r.Method == http.MethodPut || r.Method == http.MethodDelete || r.Method == http.MethodPost
	switch {
	case n%53 == 0:
		return Timeout
	case write && n%13 == 0:
		return LostReply
	case n%7 == 0:
		return SlowDown
	case n%11 == 0:
		return Internal
	}
	return Pass
}

// checkInjected stops the proxy's faults and fails the test unless every
// kind was injected at least once.
func checkInjected(t *testing.T, proxy *S3Proxy) {
	t.Helper()
	proxy.SetRule(nil)
	c := proxy.Counts()
	t.Logf("faults injected: %d SlowDown, %d InternalError, %d timeouts, %d lost replies; %d requests passed",
		c[SlowDown], c[Internal], c[Timeout], c[LostReply], c[Pass])
	if c[SlowDown] == 0 || c[Internal] == 0 || c[Timeout] == 0 || c[LostReply] == 0 {
		t.Fatalf("not every kind of fault was injected: %v", c)
	}
}

// TestS3FaultsChangeNothing runs the runners through a proxy that answers
// S3 requests with 503 SlowDown, 500s, timeouts and writes whose reply is
// lost after they were applied, and checks the ledger against a run
// without faults.
func TestS3FaultsChangeNothing(t *testing.T) {
	ctx := context.Background()
	opt := sample.Options{Seed: 31, Days: 1, VideosPerDay: 5}
	srv, clean, ans := s3Sample(t, ctx, "clean-", opt)
	baseline := embeddedBaseline(t, ctx, clean, ans)

	proxy, err := StartS3Proxy(srv.Endpoint, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	faulty := openS3World(t, srv, "faulty-", proxy.URL, true)
	generate(t, ctx, faulty, opt)
	proxy.SetRule(s3Faults)
	faultyJobs := runAll(t, faulty, ans)
	checkInjected(t, proxy)
	problems, _ := Check(ctx, faulty.b, faulty.work, faultyJobs, ans, faulty.cfg, model, baseline)
	for _, p := range problems {
		t.Errorf("run with faults: %s", p)
	}
}
