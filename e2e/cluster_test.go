package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	czpb "github.com/celebrity-zones/cz/proto"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

// fault is one scenario run on the whole system as processes.
type fault struct {
	name string
	long bool
	// executors replace the default three (x1, x2, x3; 2 CPU slots).
	executors []ExecutorOptions
	// s3, when set, puts every process's S3 traffic through the fault
	// proxy with this rule.
	s3 func(n int64, r *http.Request) Fault
	// setup runs before the system starts (a full disk, say).
	setup func(t *testing.T) []ExecutorOptions
	// watch runs beside the jobs from the start.
	watch func(ctx context.Context, s *System) error
	// hit runs once the daily job has committed a task while others run.
	hit func(ctx context.Context, s *System) error
	// check judges what the fault did, after the ledger check.
	check func(t *testing.T, s *System, finished []*engine.Job)
}

func defaultExecutors() []ExecutorOptions {
	return []ExecutorOptions{{ID: "x1"}, {ID: "x2"}, {ID: "x3"}}
}

// TestSystemUnderFaults runs the first batch and the first day of a
// sample on the whole system as processes (3 `cz coordinator`, 3 `cz
// executor`, versitygw), hits it in the middle of the daily job, and
// checks the ledger against the same sample run on the embedded engine.
// `make test` runs the short scenarios; `make e2e` all of them.
func TestSystemUnderFaults(t *testing.T) {
	faults := []fault{
		{name: "kill the leader", hit: func(ctx context.Context, s *System) error {
			l := s.Leader(ctx)
			if l < 0 {
				return fmt.Errorf("no leader")
			}
			s.Coordinators[l].Kill()
			return nil
		}},
		{name: "kill an executor mid-task", hit: killBusyExecutor, check: func(t *testing.T, s *System, finished []*engine.Job) {
			if !anyAttempt(finished, func(a *engine.Attempt) bool { return a.Executor == s.killed && a.State == engine.AttemptLost }) {
				t.Errorf("no attempt of the killed %s was lost", s.killed)
			}
		}},
		{name: "partition the leader from the majority", hit: isolateLeader, check: checkPartitioned},
		{name: "drain an executor (SIGTERM) mid-task", hit: drainBusyExecutor, check: func(t *testing.T, s *System, finished []*engine.Job) {
			if anyAttempt(finished, func(a *engine.Attempt) bool { return a.Executor == s.killed && a.State == engine.AttemptLost }) {
				t.Errorf("an attempt of the drained %s was lost: a drain finishes or hands back its work", s.killed)
			}
		}},
		{name: "executor dies after uploading, before its commit is acknowledged",
			executors: []ExecutorOptions{{ID: "x1"}, {ID: "x2"}, {ID: "x3", CPUs: 4, Env: []string{"CZ_FAULTS=hold-commit"}}},
			watch: func(ctx context.Context, s *System) error {
				x := s.Executors[2]
				if _, err := x.WaitLog(ctx, "fault: holding a committed report"); err != nil {
					return err
				}
				x.Kill()
				return nil
			},
			check: func(t *testing.T, s *System, finished []*engine.Job) {
				if !s.Executors[2].Exited() {
					t.Error("x3 never held a committed report, so it was never killed")
				}
			}},
		{name: "restart every coordinator", long: true, hit: func(ctx context.Context, s *System) error {
			for _, c := range s.Coordinators {
				c.Kill()
			}
			for _, c := range s.Coordinators {
				c.Start(s.t)
			}
			return nil
		}},
		{name: "delay and duplicate every task result", long: true,
			executors: []ExecutorOptions{{ID: "x1", Env: []string{"CZ_FAULTS=report-delay=200ms,report-twice"}},
				{ID: "x2", Env: []string{"CZ_FAULTS=report-delay=200ms,report-twice"}}}},
		{name: "S3 503s, 500s, timeouts and lost replies", long: true, s3: s3Faults},
		{name: "full disk on an executor", long: true, setup: fullDisk, check: func(t *testing.T, s *System, finished []*engine.Job) {
			if !anyAttempt(finished, func(a *engine.Attempt) bool { return strings.Contains(a.Error, "no space left on device") }) {
				t.Error("no attempt failed for want of disk: the full disk was never hit")
			}
		}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	opt := sample.Options{Seed: 51, Days: 1, VideosPerDay: 6}
	// The baseline: the embedded engine over its own buckets.
	srv, base, ans := s3Sample(t, ctx, "base-", opt)
	baseline := embeddedBaseline(t, ctx, base, ans)

	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			if f.long && !long() {
				t.Skip("long scenario: make e2e")
			}
			endpoint := srv.Endpoint
			var proxy *S3Proxy
			if f.s3 != nil {
				var err error
				if proxy, err = StartS3Proxy(srv.Endpoint, 2*time.Second, nil); err != nil {
					t.Fatal(err)
				}
				defer proxy.Close()
				endpoint = proxy.URL
			}
			w := openS3World(t, srv, fmt.Sprintf("f%d-", i), endpoint, true)
			generate(t, ctx, w, opt)
			if proxy != nil {
				proxy.SetRule(f.s3)
			}
			finished, s := runOnSystem(t, ctx, srv, w, ans, f)
			if proxy != nil {
				checkInjected(t, proxy)
			}
			problems, _ := Check(ctx, w.b, w.work, finished, ans, w.cfg, model, baseline)
			for _, p := range problems {
				t.Error(p)
			}
			if f.check != nil {
				f.check(t, s, finished)
			}
		})
	}
}

// runOnSystem runs the sample's first batch and first day on a fresh
// system, applying f; it returns the finished jobs.
func runOnSystem(t *testing.T, ctx context.Context, srv *testenv.S3Server, w s3World, ans *sample.Answer, f fault) ([]*engine.Job, *System) {
	t.Helper()
	xs := f.executors
	if f.setup != nil {
		xs = f.setup(t)
	}
	if xs == nil {
		xs = defaultExecutors()
	}
	s := startOn(t, ctx, srv, w, xs)
	// The watch ends with the jobs at the latest.
	var wg sync.WaitGroup
	wctx, stopWatch := context.WithCancel(ctx)
	defer wg.Wait()
	defer stopWatch()
	if f.watch != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.watch(wctx, s); err != nil {
				t.Errorf("%s: %v", f.name, err)
			}
		}()
	}
	batch, _ := contracts.ParseBatchID(ans.Batches[0].Batch)
	day, _ := contracts.ParseDate(ans.Days[0])
	hit := false
	var finished []*engine.Job
	for _, spec := range []engine.JobSpec{jobs.BatchSpec(batch, w.cfg), jobs.DailySpec(day, w.cfg)} {
		id, err := s.Client.Submit(ctx, spec, spec.Name)
		if err != nil {
			t.Fatal(err)
		}
		j, err := s.Client.Wait(ctx, id, func(sum *czpb.JobSummary) {
			if f.hit != nil && !hit && strings.HasPrefix(sum.Name, layout.DailyRunner) && sum.Committed > 0 && sum.Running > 0 {
				hit = true
				if err := f.hit(ctx, s); err != nil {
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
	if f.hit != nil && !hit {
		t.Fatal("the fault never happened: the daily job never had a task committed while others ran")
	}
	stopWatch()
	wg.Wait()
	checkNoSecrets(t, ctx, s, finished, []string{s.Token, srv.SecretKey})
	checkAnnounced(t, ctx, s, finished)
	s.CheckLedger(t, ctx, w.work, finished)
	return finished, s
}

// killBusyExecutor SIGKILLs an executor that runs an attempt of the
// running job.
func killBusyExecutor(ctx context.Context, s *System) error {
	x, err := busyExecutor(ctx, s)
	if err != nil {
		return err
	}
	s.killed = x.Name
	x.Kill()
	return nil
}

// drainBusyExecutor sends SIGTERM to an executor that runs an attempt of
// the running job and waits for it to drain and exit.
func drainBusyExecutor(ctx context.Context, s *System) error {
	x, err := busyExecutor(ctx, s)
	if err != nil {
		return err
	}
	s.killed = x.Name
	x.Terminate()
	if code := x.ExitCode(); code != 0 {
		return fmt.Errorf("%s exited with %d after its drain, want 0", x.Name, code)
	}
	return nil
}

// busyExecutor finds an executor that runs an attempt of the running job.
func busyExecutor(ctx context.Context, s *System) (*Process, error) {
	sums, err := s.Client.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	for _, sum := range sums {
		if sum.State != engine.JobRunning.String() {
			continue
		}
		j, err := s.Client.Job(ctx, sum.Id)
		if err != nil {
			return nil, err
		}
		for _, st := range j.Stages {
			for _, task := range st.Tasks {
				for _, a := range task.Attempts {
					if a.State == engine.AttemptRunning || a.State == engine.AttemptAssigned {
						for _, x := range s.Executors {
							if x.Name == a.Executor {
								return x, nil
							}
						}
					}
				}
			}
		}
	}
	return nil, fmt.Errorf("no executor runs an attempt")
}

// isolateLeader cuts the leader's Raft links to both other members, both
// ways; they stay cut to the end of the scenario.
func isolateLeader(ctx context.Context, s *System) error {
	l := s.Leader(ctx)
	if l < 0 {
		return fmt.Errorf("no leader")
	}
	s.isolated = l
	s.Net.Isolate(fmt.Sprintf("127.0.0.%d", 11+l))
	return nil
}

// checkPartitioned: while the old leader is still cut off, the majority
// follows another leader, the old one no longer takes itself for the
// leader, and (once it has gone four election rounds without hearing from
// one) its status page warns that what it shows may be stale.
func checkPartitioned(t *testing.T, s *System, finished []*engine.Job) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := s.isolated
	old := fmt.Sprintf("c%d", l+1)
	other := (l + 1) % len(s.Coordinators)
	for {
		lead, _ := s.MemberView(ctx, other)
		self, _ := s.MemberView(ctx, l)
		page := ""
		if resp, err := http.Get("http://" + s.HTTP[l] + "/"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page = string(body)
		}
		warned := strings.Contains(page, `id="notice"`) && strings.Contains(page, "has not heard from a leader")
		if lead != "" && lead != old && self != old && warned {
			t.Logf("majority follows %s; the isolated %s sees leader %q and warns on its status page", lead, old, self)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the majority sees leader %q, the isolated old leader %s sees %q, its status page warns: %v", lead, old, self, warned)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fullDisk gives executor x3 a temporary directory on a full 1 MiB
// tmpfs (and more CPU slots, so the scheduler tries it first); tasks that
// spool a video there fail and run again elsewhere.
func fullDisk(t *testing.T) []ExecutorOptions {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break // full
		}
	}
	f.Close()
	return []ExecutorOptions{{ID: "x1"}, {ID: "x2"}, {ID: "x3", CPUs: 4, Env: []string{"TMPDIR=" + dir}}}
}

func anyAttempt(finished []*engine.Job, is func(*engine.Attempt) bool) bool {
	for _, j := range finished {
		for _, st := range j.Stages {
			for _, task := range st.Tasks {
				for _, a := range task.Attempts {
					if is(a) {
						return true
					}
				}
			}
		}
	}
	return false
}

// TestSlowExecutorIsRacedOnTheCluster: one task's first attempt straggles
// on the system as processes; the leader launches a speculative copy, the
// job finishes, each partition commits once and the visible output is the
// committed attempt's.
func TestSlowExecutorIsRacedOnTheCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	work, s := StartOnDir(t, ctx, ExecutorOptions{ID: "x1"}, ExecutorOptions{ID: "x2"})
	spec := engine.JobSpec{Version: engine.SpecVersion, Name: "straggler", Speculation: true, Stages: []engine.StageSpec{
		{Name: "work", Operator: "test.sleep", Partitions: 4, Params: map[string]string{"sleep": "100ms", "straggler": "2", "straggle": "20s"}}}}
	j := s.Run(t, ctx, spec, "straggler")
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	s.CheckLedger(t, ctx, work, []*engine.Job{j})
	st := j.Stage("work")
	if n := len(st.Tasks[2].Attempts); n < 2 {
		t.Fatalf("the straggling task had %d attempt(s): no speculative copy was launched", n)
	}
	if err := j.CheckCommittedOnce(1); err != nil {
		t.Fatal(err)
	}
	for _, task := range st.Tasks {
		data, err := store.ReadAll(ctx, work, task.Outputs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("/work/p%d/a%d", task.Partition, task.Committed); !strings.HasSuffix(string(data), want) {
			t.Fatalf("p%d: visible output %q is not the committed attempt's (%s)", task.Partition, data, want)
		}
	}
}

// checkAnnounced: the team hears of every job's end on the chat and by
// mail (at least once: a leader lost between sending and marking lets the
// next one send again).
func checkAnnounced(t *testing.T, ctx context.Context, s *System, finished []*engine.Job) {
	t.Helper()
	var ids []string
	for _, j := range finished {
		ids = append(ids, j.ID)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	counts, err := s.WaitAnnounced(wctx, ids)
	if err != nil {
		t.Error(err)
	}
	for id, c := range counts {
		if c[0] > 1 || c[1] > 1 {
			t.Logf("job %s announced %d times on the chat, %d by mail (at least once)", id, c[0], c[1])
		}
	}
}

// checkNoSecrets reads every page of every live coordinator's status page
// and JSON API and fails if the cluster token, the S3 secret key or any
// private-key material appears in them.
func checkNoSecrets(t *testing.T, ctx context.Context, s *System, finished []*engine.Job, secrets []string) {
	t.Helper()
	keys, _ := filepath.Glob(filepath.Join(s.Certs, "*key*.pem"))
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
	paths := []string{"/", "/executors", "/metrics", "/api/jobs", "/api/executors"}
	for _, j := range finished {
		paths = append(paths, "/jobs/"+j.ID, "/api/jobs/"+j.ID)
	}
	read := 0
	for i, c := range s.Coordinators {
		if c.Exited() {
			continue
		}
		for _, p := range paths {
			resp, err := http.Get("http://" + s.HTTP[i] + p)
			if err != nil {
				t.Errorf("status page of c%d %s: %v", i+1, p, err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			read++
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status page of c%d %s: %s", i+1, p, resp.Status)
			}
			for _, secret := range secrets {
				if secret != "" && strings.Contains(string(body), secret) {
					t.Errorf("status page of c%d %s shows a secret (%.6s…)", i+1, p, secret)
				}
			}
		}
	}
	if read == 0 {
		t.Error("no status page could be read")
	}
}
