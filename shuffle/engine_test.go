package shuffle_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/shuffle"
	"github.com/celebrity-zones/cz/store"
)

// Map task p emits n records: key "k<(p*7919+i) % keys>", value the uint64
// p*1e6+i, so every value is unique and keys repeat across map tasks.
// Param "hold" = "spec:<p>" makes attempt 1 of partition p write its
// output and then wait to be cancelled (a straggler the engine copies);
// "fail:<p>" makes it write its output and then fail; "gate:<name>" makes
// every attempt 1 write its output and then wait for the gate.
func init() {
	engine.Register("shuffletest.map", mapOp)
	engine.Register("shuffletest.reduce", reduceOp)
}

var (
	gatesMu sync.Mutex
	gates   = map[string]*gate{}
)

type gate struct {
	open    chan struct{}
	written sync.WaitGroup
}

func newGate(name string, waiters int) *gate {
	g := &gate{open: make(chan struct{})}
	g.written.Add(waiters)
	gatesMu.Lock()
	gates[name] = g
	gatesMu.Unlock()
	return g
}

func param(t *engine.Task, name string, def int) int {
	if v, err := strconv.Atoi(t.Param(name)); err == nil {
		return v
	}
	return def
}

func mapOp(ctx context.Context, t *engine.Task) error {
	n, keys := param(t, "n", 1000), param(t, "keys", 500)
	codec, err := shuffle.ParseCodec(t.Param("codec"))
	if err != nil {
		return engine.Fatal(err)
	}
	place, err := shuffle.ParsePlacement(t.Param("placement"))
	if err != nil {
		return engine.Fatal(err)
	}
	w, err := shuffle.NewWriter(shuffle.Options{Partitioner: shuffle.Hash(param(t, "reducers", 1)),
		Sort: t.Param("sort") == "true", Codec: codec, MemoryBytes: int64(param(t, "memory", 0)), BlockSize: 4 << 10})
	if err != nil {
		return engine.Fatal(err)
	}
	for i := 0; i < n; i++ {
		key := fmt.Appendf(nil, "k%06d", (t.Partition*7919+i)%keys)
		if err := w.Add(key, binary.LittleEndian.AppendUint64(nil, uint64(t.Partition*1_000_000+i))); err != nil {
			return err
		}
	}
	if _, err := shuffle.WriteTask(ctx, t, "shuffle", w, place); err != nil {
		return err
	}
	if t.ID.Attempt != 1 {
		return nil
	}
	kind, arg, _ := strings.Cut(t.Param("hold"), ":")
	switch {
	case kind == "spec" && arg == strconv.Itoa(t.Partition):
		<-ctx.Done() // a straggler: the speculative copy commits first
		return ctx.Err()
	case kind == "fail" && arg == strconv.Itoa(t.Partition):
		return fmt.Errorf("attempt 1 fails after writing its output")
	case kind == "gate":
		gatesMu.Lock()
		g := gates[arg]
		gatesMu.Unlock()
		g.written.Done()
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// localBlocks are the executors' served blocks in tests that serve them.
var localBlocks *shuffle.LocalBlocks

// reduceOp writes "result": one line "key count sum" per key. Param
// "drop_local" = "true" makes each reduce task's first attempt drop the
// job's served blocks, as if the map executors had lost them.
func reduceOp(ctx context.Context, t *engine.Task) error {
	if t.Param("drop_local") == "true" && t.ID.Attempt == 1 {
		localBlocks.DropJob(t.ID.Job)
	}
	r, err := shuffle.NewTaskReader(ctx, t, "map", "shuffle", shuffle.ReadOptions{Concurrency: 3, MemoryBytes: 64 << 10})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if t.Param("sort") == "true" {
		var prev string
		err = r.Groups(ctx, func(k []byte, vs [][]byte) error {
			if string(k) <= prev {
				return engine.Fatal(fmt.Errorf("group %q after %q: not in key order", k, prev))
			}
			prev = string(k)
			var sum uint64
			for _, v := range vs {
				sum += binary.LittleEndian.Uint64(v)
			}
			fmt.Fprintf(&out, "%s %d %d\n", k, len(vs), sum)
			return nil
		})
	} else {
		var agg map[string][]byte
		agg, err = r.Aggregate(ctx, func(acc, v []byte) []byte {
			if acc == nil {
				acc = make([]byte, 16)
			}
			binary.LittleEndian.PutUint64(acc, binary.LittleEndian.Uint64(acc)+1)
			binary.LittleEndian.PutUint64(acc[8:], binary.LittleEndian.Uint64(acc[8:])+binary.LittleEndian.Uint64(v))
			return acc
		})
		for k, a := range agg {
			fmt.Fprintf(&out, "%s %d %d\n", k, binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(a[8:]))
		}
	}
	if err != nil {
		return err
	}
	return t.Put(ctx, "result", out.Bytes())
}

type rig struct {
	t      *testing.T
	eng    *engine.Engine
	bucket store.Bucket
	execs  []*local.Executor
}

func newRig(t *testing.T, b store.Bucket) *rig {
	r := &rig{t: t, bucket: b, eng: engine.New(engine.Config{Bucket: b, Tick: 20 * time.Millisecond})}
	for _, id := range []string{"a", "b"} {
		x := local.New(id, engine.Resources{CPU: 4, MemoryMB: 1024}, b, nil)
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

func job(name string, maps, reducers int, params map[string]string) engine.JobSpec {
	p := map[string]string{"n": "2000", "keys": "700", "reducers": strconv.Itoa(reducers)}
	for k, v := range params {
		p[k] = v
	}
	return engine.JobSpec{Version: engine.SpecVersion, Name: name, Params: p, Speculation: p["hold"] != "" && strings.HasPrefix(p["hold"], "spec:"),
		Stages: []engine.StageSpec{
			{Name: "map", Operator: "shuffletest.map", Partitions: maps},
			{Name: "reduce", Operator: "shuffletest.reduce", Partitions: reducers, Upstream: []string{"map"}},
		}}
}

func (r *rig) wait(id string) *engine.Job {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j, err := r.eng.Wait(ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	if j.State != engine.JobSucceeded {
		r.t.Fatalf("job %s: %s", j.State, j.Error)
	}
	return j
}

// check verifies conservation (every key's count and sum, so every record
// exactly once) and disjointness (each key in exactly one reduce
// partition, the one it hashes to).
func (r *rig) check(j *engine.Job, maps, reducers int) {
	t := r.t
	n, keys := 2000, 700
	var results [][]byte
	for _, task := range j.Stage("reduce").Tasks {
		if len(task.Outputs) != 1 {
			t.Fatalf("reduce p%d has outputs %v", task.Partition, task.Outputs)
		}
		data, err := store.ReadAll(context.Background(), r.bucket, task.Outputs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, data)
	}
	if err := testops.CheckShuffleCounts(results, maps, n, keys, reducers, false); err != nil {
		t.Fatal(err)
	}
}

func TestShuffleJobConservesRecords(t *testing.T) {
	blocks, err := shuffle.OpenLocalBlocks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(shuffle.HTTPHandler(blocks))
	defer srv.Close()
	shuffle.SetExecutorBlocks(blocks, srv.URL, false)
	defer shuffle.SetExecutorBlocks(nil, "", false)

	for _, tc := range []struct {
		name   string
		params map[string]string
		twice  int // the map partition whose task runs twice, or -1
	}{
		{"durable hash zstd, a retried map task", map[string]string{"codec": "zstd", "hold": "fail:1"}, 1},
		{"durable sorted snappy spilling, a speculative map task", map[string]string{"codec": "snappy", "sort": "true", "memory": "16384", "hold": "spec:2"}, 2},
		{"served over HTTP, a retried map task", map[string]string{"placement": "served", "hold": "fail:0"}, 0},
		{"served+durable sorted", map[string]string{"placement": "served+durable", "sort": "true", "codec": "zstd"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := store.OpenDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			r := newRig(t, b)
			id, err := r.eng.Submit(job("shuffle", 4, 3, tc.params), "")
			if err != nil {
				t.Fatal(err)
			}
			j := r.wait(id)
			if tc.twice >= 0 {
				task := j.Stage("map").Tasks[tc.twice]
				if len(task.Attempts) != 2 || task.Committed != 2 {
					t.Fatalf("map p%d: %d attempts, committed %d; want attempt 2 committed", tc.twice, len(task.Attempts), task.Committed)
				}
			}
			r.check(j, 4, 3)
		})
	}
}

func TestAutoPlacementAndLostBlocks(t *testing.T) {
	blocks, err := shuffle.OpenLocalBlocks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	localBlocks = blocks
	srv := httptest.NewServer(shuffle.HTTPHandler(blocks))
	defer srv.Close()
	defer shuffle.SetExecutorBlocks(nil, "", false)
	run := func(spot bool) (*rig, *engine.Job) {
		shuffle.SetExecutorBlocks(blocks, srv.URL, spot)
		b, err := store.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r := newRig(t, b)
		params := map[string]string{"placement": "auto", "drop_local": "true", "codec": "snappy"}
		spec := job("auto", 3, 2, params)
		spec.MaxAttempts = 2
		id, err := r.eng.Submit(spec, "")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		j, err := r.eng.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r, j
	}
	// Spot executors copy their blocks to the store: losing the executors'
	// blocks costs nothing.
	r, j := run(true)
	if j.State != engine.JobSucceeded {
		t.Fatalf("spot: job %s: %s", j.State, j.Error)
	}
	for _, task := range j.Stage("map").Tasks {
		if len(task.Outputs) != 2 {
			t.Fatalf("spot map p%d outputs %v, want the index and a durable copy", task.Partition, task.Outputs)
		}
	}
	r.check(j, 3, 2)
	// Other executors only serve theirs: a reducer that finds a map
	// output gone names that map task, which alone re-runs; the reducer
	// runs again once it has committed, and that does not count against
	// MaxAttempts (2, fewer than the 3 lost outputs).
	r, j = run(false)
	if j.State != engine.JobSucceeded {
		t.Fatalf("on-demand: job %s: %q, want the lost map tasks re-run and the job succeeded", j.State, j.Error)
	}
	r.check(j, 3, 2) // each key exactly once
	ctx := context.Background()
	manifests, err := engine.ReadJobOutputs(ctx, r.bucket, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range j.Stage("map").Tasks {
		// Every map output was dropped, so every map task re-ran.
		if task.Committed < 2 || task.Reopened < 1 || len(task.Outputs) != 1 {
			t.Fatalf("on-demand map p%d: committed attempt %d, re-opened %d times, outputs %v; want a later attempt committed",
				task.Partition, task.Committed, task.Reopened, task.Outputs)
		}
		if pm := manifests["map"].Partitions[task.Partition]; pm.Attempt != task.Committed || pm.Outputs[0].Key != task.Outputs[0].Key {
			t.Fatalf("on-demand map p%d: manifest lists attempt %d (%v), the task committed %d (%v)",
				task.Partition, pm.Attempt, pm.Outputs, task.Committed, task.Outputs)
		}
		for _, at := range task.Attempts[:task.Committed-1] {
			if at.State != engine.AttemptCommitted {
				t.Fatalf("on-demand map p%d attempt %d is %s, want it left committed (its output was lost later)", task.Partition, at.Num, at.State)
			}
		}
	}
	lost := 0
	for _, task := range j.Stage("reduce").Tasks {
		if task.Failures != 0 {
			t.Fatalf("on-demand reduce p%d counted %d failures, want 0: lost inputs are not its fault", task.Partition, task.Failures)
		}
		for _, at := range task.Attempts {
			if at.State == engine.AttemptFailed {
				if at.LostInput == nil || at.LostInput.Stage != "map" || !strings.Contains(at.Error, "re-run map task map/p") {
					t.Fatalf("on-demand reduce p%d attempt %d failed with %q (lost input %v), want a lost map output", task.Partition, at.Num, at.Error, at.LostInput)
				}
				lost++
			}
		}
	}
	if lost < 3 {
		t.Fatalf("on-demand: %d reduce attempts found a lost map output, want at least 3 (one per map task)", lost)
	}
	events, err := engine.ReadEventLog(ctx, r.bucket, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.CheckForward(events); err != nil {
		t.Fatalf("on-demand event log: %v", err)
	}
	replayed, err := engine.ReplayJob(events)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range replayed.Stage("map").Tasks {
		if want := j.Stage("map").Tasks[task.Partition]; task.Committed != want.Committed || task.Reopened != want.Reopened {
			t.Fatalf("replayed map p%d: committed %d, re-opened %d; the engine says %d, %d", task.Partition, task.Committed, task.Reopened, want.Committed, want.Reopened)
		}
	}
}

func TestShuffleSurvivesExecutorKilledMidShuffle(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, b)
	name := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	g := newGate(name, 6)
	id, err := r.eng.Submit(job("killed", 6, 4, map[string]string{"hold": "gate:" + name, "codec": "snappy"}), "")
	if err != nil {
		t.Fatal(err)
	}
	g.written.Wait() // every map task's first attempt wrote its output
	j := r.eng.Job(id)
	onA := 0
	for _, task := range j.Stage("map").Tasks {
		if task.Attempts[0].Executor == "a" {
			onA++
		}
	}
	if onA == 0 || onA == 6 {
		t.Fatalf("%d of 6 map tasks on executor a; want them spread over both", onA)
	}
	r.execs[0].Close()
	if err := r.eng.ExecutorLost("a"); err != nil {
		t.Fatal(err)
	}
	close(g.open)
	j = r.wait(id)
	reran := 0
	for _, task := range j.Stage("map").Tasks {
		if task.Attempts[0].Executor == "a" {
			if task.Committed < 2 {
				t.Fatalf("map p%d ran on lost executor a but attempt %d committed", task.Partition, task.Committed)
			}
			reran++
		}
	}
	if reran != onA {
		t.Fatalf("%d map tasks re-ran, want %d", reran, onA)
	}
	r.check(j, 6, 4)
}

func TestShuffleOverS3(t *testing.T) {
	s3 := testenv.StartS3(t)
	r := newRig(t, s3.Bucket(t, "cz"))
	id, err := r.eng.Submit(job("s3", 3, 2, map[string]string{"codec": "zstd", "sort": "true", "hold": "fail:2"}), "")
	if err != nil {
		t.Fatal(err)
	}
	r.check(r.wait(id), 3, 2)
}
