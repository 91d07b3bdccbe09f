package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	_ "github.com/celebrity-zones/cz/engine/testops"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/store"
)

// jobOp is one client call on one idempotency key: a submission (which
// returns the job its key names) or a listing (which says whether a job
// of that key exists).
type jobOp struct {
	Key    string
	Submit bool
}

type jobResult struct {
	JobID  string // submit
	Exists bool   // list
	Err    bool   // the call failed: it may or may not have taken effect
}

// jobsModel is the specification of idempotent submission: per key, the
// first successful submit creates the job, every later one returns it,
// and a listing sees it exactly when it was created.
var jobsModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(jobOp).Key
			if byKey[k] == nil {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		id, in, out := state.(string), input.(jobOp), output.(jobResult)
		if out.Err {
			// A failed submit may still have created the job.
			if in.Submit && id == "" {
				return true, "?"
			}
			return true, id
		}
		if in.Submit {
			switch id {
			case "", "?":
				return true, out.JobID
			default:
				return out.JobID == id, id
			}
		}
		if id == "?" {
			return true, id
		}
		return out.Exists == (id != ""), id
	},
	Equal: func(a, b interface{}) bool { return a == b },
}

// TestSubmissionsAreLinearizable has clients submit and list jobs through
// every member of a 3-node cluster at once, with the leader killed
// half-way, and checks the history with porcupine against jobsModel.
func TestSubmissionsAreLinearizable(t *testing.T) {
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir()
	if err := coordinator.GenerateCerts(certs, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	sec := coordinator.Files(certs, "lin-token")
	c, err := coordinator.StartLocalCluster(t.TempDir(), 3, sec, b, coordinator.LoopbackTiming, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var mu sync.Mutex
	var history []porcupine.Operation
	record := func(client int, in jobOp, call time.Time, out jobResult) {
		mu.Lock()
		history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call.Sub(start).Nanoseconds(),
			Output: out, Return: time.Since(start).Nanoseconds()})
		mu.Unlock()
	}
	const clients, opsPerClient, keys = 6, 30, 4
	var wg sync.WaitGroup
	for cl := range clients {
		// Each client talks to one member first (followers forward).
		addrs := append(append([]string{}, c.APIAddrs[cl%3:]...), c.APIAddrs[:cl%3]...)
		client, err := coordinator.Dial(addrs, coordinator.Security{CAFile: sec.CAFile, Token: sec.Token})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range opsPerClient {
				key := fmt.Sprintf("key-%d", (cl+i)%keys)
				in := jobOp{Key: key, Submit: (cl+i)%3 != 0}
				callCtx, stop := context.WithTimeout(ctx, 10*time.Second)
				call := time.Now()
				var out jobResult
				if in.Submit {
					spec := engine.JobSpec{Version: engine.SpecVersion, Name: key, Stages: []engine.StageSpec{{Name: "s", Operator: "test.noop", Partitions: 1}}}
					id, err := client.Submit(callCtx, spec, key)
					out = jobResult{JobID: id, Err: err != nil}
				} else {
					jobs, err := client.Jobs(callCtx)
					out.Err = err != nil
					for _, j := range jobs {
						out.Exists = out.Exists || j.Name == key
					}
				}
				stop()
				record(cl, in, call, out)
			}
		}()
	}
	// Kill the leader while the clients run.
	time.Sleep(200 * time.Millisecond)
	c.Kill(c.Leader())
	wg.Wait()
	failed := 0
	for _, op := range history {
		if op.Output.(jobResult).Err {
			failed++
		}
	}
	t.Logf("%d operations (%d failed across the leader change)", len(history), failed)
	if failed == len(history) {
		t.Fatal("every operation failed: the history checks nothing")
	}
	if !porcupine.CheckOperations(jobsModel, history) {
		t.Fatal("the history of submissions and listings is not linearizable")
	}
}
