package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/store"
)

type rig struct {
	t      *testing.T
	eng    *engine.Engine
	bucket store.Bucket
	execs  []*local.Executor
}

// newRig starts an engine with in-process executors over a directory store.
func newRig(t *testing.T, execs ...engine.Resources) *rig {
	t.Helper()
	return newRigConfig(t, engine.Config{}, execs...)
}

// newRigConfig is newRig with cfg (its Bucket and Tick are the rig's).
func newRigConfig(t *testing.T, cfg engine.Config, execs ...engine.Resources) *rig {
	t.Helper()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Bucket, cfg.Tick = b, 20*time.Millisecond
	r := &rig{t: t, bucket: b, eng: engine.New(cfg)}
	for i, res := range execs {
		x := local.New(string(rune('a'+i)), res, b, nil)
		r.execs = append(r.execs, x)
		if err := r.eng.AddExecutor(x); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.eng.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, x := range r.execs {
			x.Close()
		}
	})
	return r
}

func (r *rig) run(spec engine.JobSpec) *engine.Job {
	r.t.Helper()
	id, err := r.eng.Submit(spec, "")
	if err != nil {
		r.t.Fatal(err)
	}
	return r.wait(id)
}

func (r *rig) wait(id string) *engine.Job {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	j, err := r.eng.Wait(ctx, id)
	if err != nil {
		r.t.Fatalf("waiting for %s: %v", id, err)
	}
	// Every job's event log shows states only moving forward.
	events, err := engine.ReadEventLog(ctx, r.bucket, id)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := engine.CheckForward(events); err != nil {
		r.t.Fatalf("event log of %s: %v", id, err)
	}
	return j
}

// attemptObjects lists the attempt-scoped objects left in the store.
func (r *rig) attemptObjects(job string) []string {
	list, err := r.bucket.List(context.Background(), "jobs/"+job+"/", "")
	if err != nil {
		r.t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Objects {
		if strings.Contains(o.Key, "/attempts/") {
			keys = append(keys, o.Key)
		}
	}
	return keys
}

func TestExampleJobRunsAndPublishesThroughManifest(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 2, MemoryMB: 512}, engine.Resources{CPU: 2, MemoryMB: 512})
	spec, err := engine.LoadSpec("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	j := r.run(spec)
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	ctx := context.Background()
	outs, err := engine.ReadJobOutputs(ctx, r.bucket, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	total := outs["total"].Partitions[0].Outputs
	if len(total) != 1 {
		t.Fatalf("total stage outputs %v, want one", total)
	}
	data, err := store.ReadAll(ctx, r.bucket, total[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != "79800" { // 0+1+...+399
		t.Fatalf("sum = %s, want 79800", got)
	}
	if n := len(outs["numbers"].Partitions); n != 4 {
		t.Fatalf("numbers manifest has %d partitions, want 4", n)
	}
	if got := r.attemptObjects(j.ID); len(got) != 5 {
		t.Fatalf("attempt objects %v, want exactly the 5 committed ones", got)
	}
}

func TestEventLogReplaysToTheFinalJob(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 3, MemoryMB: 512})
	spec, err := engine.LoadSpec("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	j := r.run(spec)
	events, err := engine.ReadEventLog(context.Background(), r.bucket, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := engine.ReplayJob(events)
	if err != nil {
		t.Fatal(err)
	}
	if replayed.State != j.State || len(replayed.Stages) != len(j.Stages) {
		t.Fatalf("replayed job %s with %d stages; want %s with %d", replayed.State, len(replayed.Stages), j.State, len(j.Stages))
	}
	for _, st := range j.Stages {
		rs := replayed.Stage(st.Name)
		for p, task := range st.Tasks {
			rt := rs.Tasks[p]
			if rt.State != task.State || rt.Committed != task.Committed || len(rt.Attempts) != len(task.Attempts) ||
				rt.Attempts[0].Executor != task.Attempts[0].Executor || len(rt.Outputs) != len(task.Outputs) {
				t.Errorf("%s/p%d replayed as %+v, want %+v", st.Name, p, rt, task)
			}
		}
	}
	ids, err := engine.ListLoggedJobs(context.Background(), r.bucket)
	if err != nil || len(ids) != 1 || ids[0] != j.ID {
		t.Fatalf("logged jobs %v (%v), want [%s]", ids, err, j.ID)
	}
}

func TestRetryableErrorsAreRetried(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 2})
	j := r.run(engine.JobSpec{Version: 1, Name: "flaky", MaxAttempts: 3, Stages: []engine.StageSpec{{
		Name: "s", Operator: "test.flaky", Partitions: 3, Params: map[string]string{"succeed_at": "3"},
	}}})
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	for _, task := range j.Stage("s").Tasks {
		if len(task.Attempts) != 3 || task.Committed != 3 || task.Failures != 2 {
			t.Errorf("p%d: %d attempts, committed %d, %d failures; want 3, 3, 2", task.Partition, len(task.Attempts), task.Committed, task.Failures)
		}
	}
	if got := r.attemptObjects(j.ID); len(got) != 3 {
		t.Fatalf("attempt objects %v, want only the 3 committed ones", got)
	}
}

func TestFatalErrorFailsTheJobWithoutRetry(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 2})
	j := r.run(engine.JobSpec{Version: 1, Name: "fatal", Stages: []engine.StageSpec{{
		Name: "s", Operator: "test.flaky", Partitions: 1, Params: map[string]string{"fatal": "true"},
	}}})
	if j.State != engine.JobFailed || !strings.Contains(j.Error, "bad input") {
		t.Fatalf("job %s (%q), want failed with the operator's error", j.State, j.Error)
	}
	if n := len(j.Stage("s").Tasks[0].Attempts); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
	if _, err := engine.ReadJobOutputs(context.Background(), r.bucket, j.ID); err == nil {
		t.Fatal("a failed job has a manifest")
	}
}

func TestStragglerGetsSpeculativeCopyAndOneCommit(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 4}, engine.Resources{CPU: 4})
	j := r.run(engine.JobSpec{Version: 1, Name: "straggle", Speculation: true, Stages: []engine.StageSpec{{
		Name: "s", Operator: "test.sleep", Partitions: 8,
		Params: map[string]string{"sleep": "5ms", "straggler": "5", "straggle": "30s"},
	}}})
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	slow := j.Stage("s").Tasks[5]
	if len(slow.Attempts) != 2 || !slow.Attempts[1].Speculative || slow.Committed != 2 {
		t.Fatalf("straggler attempts %d, committed %d; want a speculative attempt 2 that committed", len(slow.Attempts), slow.Committed)
	}
	if slow.Attempts[0].State != engine.AttemptCancelled {
		t.Fatalf("the straggling attempt is %s, want cancelled", slow.Attempts[0].State)
	}
	if got := r.attemptObjects(j.ID); len(got) != 8 {
		t.Fatalf("attempt objects %v, want one per partition", got)
	}
}

func TestCancelStopsRunningJob(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 2})
	id, err := r.eng.Submit(engine.JobSpec{Version: 1, Name: "cancel-me", Stages: []engine.StageSpec{{
		Name: "s", Operator: "test.gate", Partitions: 4, Params: map[string]string{"gate": fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())},
	}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.eng.Cancel(id, "test"); err != nil {
		t.Fatal(err)
	}
	j := r.wait(id)
	if j.State != engine.JobCancelled {
		t.Fatalf("job %s, want cancelled", j.State)
	}
	for _, task := range j.Stage("s").Tasks {
		if task.State != engine.TaskCancelled {
			t.Errorf("p%d is %s, want cancelled", task.Partition, task.State)
		}
	}
}

func TestLostExecutorsTasksRunElsewhere(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 4}, engine.Resources{CPU: 4})
	gate := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	id, err := r.eng.Submit(engine.JobSpec{Version: 1, Name: "lose", Stages: []engine.StageSpec{{
		Name: "s", Operator: "test.gate", Partitions: 4, Params: map[string]string{"gate": gate},
	}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	// Wait until both executors run attempts, then lose "a".
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := r.eng.Job(id)
		running := 0
		for _, task := range j.Stage("s").Tasks {
			if len(task.Attempts) > 0 && task.Attempts[0].State == engine.AttemptRunning {
				running++
			}
		}
		if running == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempts never all started: %+v", j.Stage("s"))
		}
		time.Sleep(2 * time.Millisecond)
	}
	r.execs[0].Close()
	if err := r.eng.ExecutorLost("a"); err != nil {
		t.Fatal(err)
	}
	testops.Open(gate)
	j := r.wait(id)
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	for _, task := range j.Stage("s").Tasks {
		c := task.Attempts[task.Committed-1]
		if c.Executor != "b" {
			t.Errorf("p%d committed on %s, want b", task.Partition, c.Executor)
		}
		if task.Attempts[0].Executor == "a" && task.Attempts[0].State != engine.AttemptLost {
			t.Errorf("p%d attempt 1 on lost executor a is %s, want lost", task.Partition, task.Attempts[0].State)
		}
	}
}

func TestSubmitRejectsBadSpecNamingTheField(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 1})
	_, err := r.eng.Submit(engine.JobSpec{Version: 1, Name: "bad", Stages: []engine.StageSpec{
		{Name: "s", Operator: "no.such.op", Partitions: 0},
		{Name: "t", Operator: "test.noop", Partitions: 1, Upstream: []string{"missing"}},
	}}, "")
	for _, want := range []string{"stages[0].operator", "stages[0].partitions", "stages[1].upstream"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestParseSpecReportsLine(t *testing.T) {
	_, err := engine.ParseSpec("job.json", []byte("{\n \"version\": 1,\n \"name\": \"x\",\n \"stages\": [\n  {\"name\": \"s\", \"partitions\": \"two\"}\n ]\n}"))
	if err == nil || !strings.Contains(err.Error(), "job.json:5") {
		t.Fatalf("error %v, want one naming job.json:5", err)
	}
}

func TestSubmitRefusesStageNoExecutorCanRun(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 2, MemoryMB: 1024})
	_, err := r.eng.Submit(engine.JobSpec{Version: 1, Name: "gpu", Stages: []engine.StageSpec{
		{Name: "embed", Operator: "test.noop", Partitions: 1, Resources: engine.Resources{GPU: 1}},
	}}, "")
	if err == nil || !strings.Contains(err.Error(), "stages[0].resources") {
		t.Fatalf("error %v, want one naming stages[0].resources", err)
	}
}

func TestRepeatedIdempotencyKeyReturnsTheFirstJob(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 2})
	spec := engine.JobSpec{Version: 1, Name: "once", Stages: []engine.StageSpec{{Name: "s", Operator: "test.noop", Partitions: 2}}}
	a, err := r.eng.Submit(spec, "s3://bucket/key#etag")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.eng.Submit(spec, "s3://bucket/key#etag")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("second submit made job %s, want the first, %s", b, a)
	}
	if j := r.wait(b); j.State != engine.JobSucceeded || len(r.eng.Jobs()) != 1 {
		t.Fatalf("job %s with %d jobs in all; want succeeded and 1", j.State, len(r.eng.Jobs()))
	}
}

// uploads is a bucket with open multipart uploads, for the sweeper.
type uploads struct {
	store.Bucket
	open []store.Upload
}

func (u *uploads) ListUploads(ctx context.Context, prefix string) ([]store.Upload, error) {
	var out []store.Upload
	for _, up := range u.open {
		if strings.HasPrefix(up.Key, prefix) {
			out = append(out, up)
		}
	}
	return out, nil
}

func (u *uploads) AbortUpload(ctx context.Context, up store.Upload) error {
	for i, o := range u.open {
		if o.ID == up.ID {
			u.open = append(u.open[:i], u.open[i+1:]...)
			return nil
		}
	}
	return store.ErrNotExist
}

func TestSweepDeletesUnreferencedAttemptsAndAbortsUploads(t *testing.T) {
	r := newRig(t, engine.Resources{CPU: 2})
	j := r.run(engine.JobSpec{Version: 1, Name: "sweep", Stages: []engine.StageSpec{{Name: "s", Operator: "test.numbers", Partitions: 2}}})
	ctx := context.Background()
	stray := engine.AttemptPrefix(engine.AttemptID{Job: j.ID, Stage: "s", Partition: 0, Attempt: 9}) + "numbers"
	if err := store.PutBytes(ctx, r.bucket, stray, []byte("from a dead attempt")); err != nil {
		t.Fatal(err)
	}
	b := &uploads{Bucket: r.bucket, open: []store.Upload{
		{Key: "jobs/" + j.ID + "/s/attempts/p00001-a7/big", ID: "u1"},
		{Key: "jobs/other-job/x", ID: "u2"},
	}}
	deleted, aborted, err := engine.Sweep(ctx, b, j)
	if err != nil {
		t.Fatal(err)
	}
	if deleted != 1 || aborted != 1 || len(b.open) != 1 || b.open[0].ID != "u2" {
		t.Fatalf("swept %d objects and %d uploads, %v left open; want 1, 1 and only the other job's upload", deleted, aborted, b.open)
	}
	if got := r.attemptObjects(j.ID); len(got) != 2 {
		t.Fatalf("attempt objects after sweep %v, want the 2 committed ones", got)
	}
	if _, err := engine.ReadJobOutputs(ctx, r.bucket, j.ID); err != nil {
		t.Fatalf("outputs unreadable after the sweep: %v", err)
	}
}

// recordingLog keeps every command it applies, as a Raft log would.
type recordingLog struct {
	mu   sync.Mutex
	fsm  *engine.FSM
	cmds [][]byte
}

func (l *recordingLog) Apply(cmd []byte) (*engine.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, cmd)
	return l.fsm.Apply(uint64(len(l.cmds)), cmd), nil
}

// The state machine must be deterministic: a follower applying the same
// log reaches the same state (what Raft replication relies on).
func TestReplayingTheLogReproducesTheState(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fsm := engine.NewFSM()
	log := &recordingLog{fsm: fsm}
	eng := engine.New(engine.Config{Bucket: b, FSM: fsm, Log: log, Tick: 10 * time.Millisecond})
	for _, id := range []string{"a", "b"} {
		x := local.New(id, engine.Resources{CPU: 2, MemoryMB: 512}, b, nil)
		defer x.Close()
		if err := eng.AddExecutor(x); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go eng.Run(ctx)
	spec, err := engine.LoadSpec("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	flaky := engine.JobSpec{Version: 1, Name: "flaky", Stages: []engine.StageSpec{{Name: "s", Operator: "test.flaky", Partitions: 3}}}
	for _, s := range []engine.JobSpec{spec, flaky} {
		id, err := eng.Submit(s, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Wait(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	log.mu.Lock()
	cmds := append([][]byte(nil), log.cmds...)
	var want bytes.Buffer
	if err := fsm.Snapshot(&want); err != nil {
		t.Fatal(err)
	}
	log.mu.Unlock()

	follower := engine.NewFSM()
	for i, c := range cmds {
		follower.Apply(uint64(i+1), c)
	}
	var got bytes.Buffer
	if err := follower.Snapshot(&got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("a follower applying the same %d commands reached a different state", len(cmds))
	}
}
