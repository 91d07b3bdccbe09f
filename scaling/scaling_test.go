package scaling

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/celebrity-zones/cz/engine"
	_ "github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/store"
)

var gpuBox = engine.Resources{CPU: 4, GPU: 1, MemoryMB: 16000}

func TestPolicyDesired(t *testing.T) {
	p := Policy{PerExecutor: gpuBox, Min: 0, Max: 8, IdleAfter: 10 * time.Minute}
	busy := func(cpu, gpu int, mem int64) Load {
		return Load{Need: engine.Resources{CPU: cpu, GPU: gpu, MemoryMB: mem}, Jobs: 1}
	}
	for _, c := range []struct {
		name    string
		current int
		load    Load
		idle    time.Duration
		want    int
	}{
		{"nothing to do, nothing running", 0, Load{}, 0, 0},
		{"first job: 6 GPU tasks need 6 boxes", 0, busy(6, 6, 6000), 0, 6},
		{"CPU-bound: 9 CPUs need 3 boxes", 0, busy(9, 0, 100), 0, 3},
		{"memory-bound", 1, busy(1, 0, 40000), 0, 3},
		{"more work than Max", 2, busy(40, 40, 0), 0, 8},
		{"less work: keep the boxes (no partial scale-in)", 6, busy(2, 2, 0), 0, 6},
		{"between stages: keep", 6, Load{Jobs: 1}, 0, 6},
		{"idle, not long enough", 6, Load{}, 9 * time.Minute, 6},
		{"idle long enough: to zero", 6, Load{}, 10 * time.Minute, 0},
		{"a need executors cannot meet is left out", 0, Load{Need: engine.Resources{CPU: 1}, Jobs: 1}, 0, 1},
	} {
		if got := p.Desired(c.current, c.load, c.idle); got != c.want {
			t.Errorf("%s: Desired(%d, %+v, %s) = %d, want %d", c.name, c.current, c.load, c.idle, got, c.want)
		}
	}
	warm := Policy{PerExecutor: gpuBox, Min: 1, Max: 2, IdleAfter: time.Minute}
	if got := warm.Desired(0, Load{}, time.Hour); got != 1 {
		t.Errorf("Min 1 idle: %d, want 1", got)
	}
}

// newEngine is an engine without executors: submitted tasks stay ready,
// which is the load a scaler sees before its executors arrive.
func newEngine(t *testing.T) *engine.Engine {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return engine.New(engine.Config{Bucket: b})
}

func twoStageJob(name string, parts int, res engine.Resources) engine.JobSpec {
	return engine.JobSpec{Version: engine.SpecVersion, Name: name, Stages: []engine.StageSpec{
		{Name: "map", Operator: "test.noop", Partitions: parts, Resources: res},
		{Name: "reduce", Operator: "test.noop", Partitions: 1, Upstream: []string{"map"}, Resources: engine.Resources{CPU: 1, MemoryMB: 100}},
	}}
}

func TestLoadOfEngineState(t *testing.T) {
	e := newEngine(t)
	if l := EngineLoad(e)(); !l.Idle() {
		t.Fatalf("empty engine: %+v, want idle", l)
	}
	id, err := e.Submit(twoStageJob("faces", 5, engine.Resources{CPU: 1, GPU: 1, MemoryMB: 2000}), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(twoStageJob("more", 2, engine.Resources{CPU: 2, MemoryMB: 500}), ""); err != nil {
		t.Fatal(err)
	}
	// Waiting tasks (reduce) are not counted; ready ones are.
	want := engine.Resources{CPU: 5 + 4, GPU: 5, MemoryMB: 10000 + 1000}
	if l := EngineLoad(e)(); l.Need != want || l.Jobs != 2 {
		t.Errorf("load = %+v, want need %v of 2 jobs", l, want)
	}
	e.Cancel(id, "test")
	if l := EngineLoad(e)(); l.Jobs != 1 || l.Need.GPU != 0 {
		t.Errorf("after a cancel: %+v", l)
	}
}

// drainScript is a stand-in executor: it records its id when SIGTERM asks
// it to drain, and exits.
const drainScript = `trap 'echo drained > "$OUT/$CZ_EXECUTOR_ID"; exit 0' TERM; touch "$OUT/$CZ_EXECUTOR_ID.ready"; while :; do sleep 0.05; done`

// waitReady waits until the stand-in executors have set their trap.
func waitReady(t *testing.T, out string, ids ...string) {
	t.Helper()
	waitFor(t, "executors to start", func() bool {
		for _, id := range ids {
			if !exists(filepath.Join(out, id+".ready")) {
				return false
			}
		}
		return true
	})
}

func TestLocalStartsAndDrainsProcesses(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	l := &Local{Command: []string{"sh", "-c", drainScript}, Env: []string{"OUT=" + out}, LogDir: t.TempDir(), Grace: 5 * time.Second}
	defer l.Close()
	if err := l.SetDesired(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if c, _ := l.Capacity(ctx); c != (Capacity{Desired: 3, Running: 3}) {
		t.Fatalf("capacity %+v, want 3 running", c)
	}
	if ids := l.IDs(); !slices.Equal(ids, []string{"local-1", "local-2", "local-3"}) {
		t.Fatalf("ids %v", ids)
	}
	waitReady(t, out, "local-1", "local-2", "local-3")
	// Scale in: the newest go, each drained by SIGTERM.
	l.SetDesired(ctx, 1)
	waitFor(t, "local-2 and local-3 to drain", func() bool {
		return exists(filepath.Join(out, "local-2")) && exists(filepath.Join(out, "local-3"))
	})
	if exists(filepath.Join(out, "local-1")) {
		t.Error("local-1 drained, but scale-in should stop the newest")
	}
	// A crashed executor is replaced.
	l.mu.Lock()
	pid := l.procs[0].cmd.Process.Pid
	l.mu.Unlock()
	syscall.Kill(-pid, syscall.SIGKILL)
	waitFor(t, "the killed executor to be replaced", func() bool {
		c, _ := l.Capacity(ctx)
		return c.Running == 1 && slices.Equal(l.IDs(), []string{"local-4"})
	})
	waitReady(t, out, "local-4")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(out, "local-4")) {
		t.Error("Close did not drain local-4")
	}
	if err := (&Local{Command: []string{filepath.Join(out, "no-such-binary")}}).SetDesired(ctx, 1); err == nil || !strings.Contains(err.Error(), "no-such-binary") {
		t.Errorf("missing command: %v", err)
	}
}

// TestScalerFollowsTheEngine runs the whole loop on this machine: jobs in
// a real engine, the policy, and executor processes.
func TestScalerFollowsTheEngine(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t)
	out := t.TempDir()
	group := &Local{Command: []string{"sh", "-c", drainScript}, Env: []string{"OUT=" + out}, Grace: 5 * time.Second}
	defer group.Close()
	s := &Scaler{Policy: Policy{PerExecutor: gpuBox, Max: 4, IdleAfter: 5 * time.Minute}, Group: group, Load: EngineLoad(e)}
	t0 := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	step := func(at time.Duration, want int) {
		t.Helper()
		got, err := s.Step(ctx, t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := group.Capacity(ctx)
		if got != want || c.Desired != want || c.Running != want {
			t.Fatalf("at +%s: asked %d, capacity %+v; want %d", at, got, c, want)
		}
	}
	step(0, 0)
	id, err := e.Submit(twoStageJob("faces", 3, engine.Resources{CPU: 1, GPU: 1, MemoryMB: 4000}), "")
	if err != nil {
		t.Fatal(err)
	}
	step(time.Minute, 3)
	step(2*time.Minute, 3)
	waitReady(t, out, "local-1", "local-2", "local-3")
	e.Cancel(id, "done with it")
	step(3*time.Minute, 3) // idle since now
	step(7*time.Minute, 3)
	step(8*time.Minute, 0) // five idle minutes
	group.Close()
	for _, id := range []string{"local-1", "local-2", "local-3"} {
		if !exists(filepath.Join(out, id)) {
			t.Errorf("%s was not drained", id)
		}
	}
}

// fakeASG is the Auto Scaling API over in-memory groups: SetDesired
// launches instances at once when the group can get them (spot may not).
type fakeASG struct {
	groups   map[string]*types.AutoScalingGroup
	capacity map[string]int // instances the group can get at most
	calls    []string
}

func newFakeASG() *fakeASG {
	f := &fakeASG{groups: map[string]*types.AutoScalingGroup{}, capacity: map[string]int{}}
	for _, n := range []string{"spot", "ondemand"} {
		f.groups[n] = &types.AutoScalingGroup{AutoScalingGroupName: aws.String(n), DesiredCapacity: aws.Int32(0), MaxSize: aws.Int32(8)}
		f.capacity[n] = 100
	}
	return f
}

func (f *fakeASG) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	for _, n := range in.AutoScalingGroupNames {
		if g := f.groups[n]; g != nil {
			out.AutoScalingGroups = append(out.AutoScalingGroups, *g)
		}
	}
	return out, nil
}

func (f *fakeASG) SetDesiredCapacity(_ context.Context, in *autoscaling.SetDesiredCapacityInput, _ ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	name, n := aws.ToString(in.AutoScalingGroupName), int(aws.ToInt32(in.DesiredCapacity))
	g := f.groups[name]
	g.DesiredCapacity = aws.Int32(int32(n))
	g.Instances = nil
	for range min(n, f.capacity[name]) {
		g.Instances = append(g.Instances, types.Instance{LifecycleState: types.LifecycleStateInService})
	}
	f.calls = append(f.calls, fmt.Sprintf("%s=%d", name, n))
	return &autoscaling.SetDesiredCapacityOutput{}, nil
}

func TestAWSFallsBackToOnDemand(t *testing.T) {
	ctx := context.Background()
	api := newFakeASG()
	now := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	a := NewAWSWith(api, "spot", "ondemand")
	a.Now = func() time.Time { return now }

	// Spot is plentiful: everything on spot.
	if err := a.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if c, _ := a.Capacity(ctx); c != (Capacity{Desired: 4, Running: 4}) {
		t.Fatalf("capacity %+v", c)
	}
	if !slices.Equal(api.calls, []string{"spot=4"}) {
		t.Errorf("calls %v, want spot=4 only", api.calls)
	}
	a.SetDesired(ctx, 0)

	// Spot dries up: only 2 of 6 come. The shortfall goes on-demand after
	// FallbackAfter, not before.
	api.calls = nil
	api.capacity["spot"] = 2
	a.SetDesired(ctx, 6)
	now = now.Add(time.Minute)
	a.SetDesired(ctx, 6) // short for 0 s (first seen) -> wait
	now = now.Add(time.Minute)
	if c, _ := a.Capacity(ctx); c.Running != 2 || c.Desired != 6 {
		t.Fatalf("before the fallback: %+v", c)
	}
	now = now.Add(3 * time.Minute)
	a.SetDesired(ctx, 6)
	c, _ := a.Capacity(ctx)
	if c != (Capacity{Desired: 6, Running: 6}) {
		t.Fatalf("after the fallback: %+v, want 6 running", c)
	}
	if od := aws.ToInt32(api.groups["ondemand"].DesiredCapacity); od != 4 {
		t.Errorf("on-demand group asked for %d, want the 4 spot could not give", od)
	}
	// Idle: both groups to zero.
	a.SetDesired(ctx, 0)
	if c, _ := a.Capacity(ctx); c != (Capacity{}) {
		t.Errorf("after scale to zero: %+v", c)
	}
	// A missing group is an error naming it.
	if err := NewAWSWith(api, "gone", "").SetDesired(ctx, 1); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("missing group: %v", err)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Setenv("AWS_REGION", "eu-west-1")
	a, err := Open(ctx, "aws:cz-executor-spot,cz-executor-ondemand")
	if err != nil {
		t.Fatal(err)
	}
	if g := a.(*AWS); g.Spot != "cz-executor-spot" || g.OnDemand != "cz-executor-ondemand" {
		t.Errorf("aws groups %+v", g)
	}
	l, err := Open(ctx, "local:bin/cz executor --join 127.0.0.1:7946")
	if err != nil || !slices.Equal(l.(*Local).Command, []string{"bin/cz", "executor", "--join", "127.0.0.1:7946"}) {
		t.Errorf("local: %+v %v", l, err)
	}
	for _, bad := range []string{"aws:", "aws:a,b,c", "local:", "gcp:x", ""} {
		if _, err := Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) accepted", bad)
		}
	}
}
