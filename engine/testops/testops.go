// Package testops registers small operators for engine tests, the example
// job spec (engine/testdata) and the engine benchmark. Real pipelines
// register theirs in package jobs.
//
//	test.noop     does nothing
//	test.numbers  writes "numbers": the integers [p*n, (p+1)*n) for partition p, n = param "n"
//	test.sum      sums every "numbers" or "sum" input of the upstream stages into "sum"
//	test.flaky    fails (retryably) while attempt < param "succeed_at"; param "fatal"=true fails fatally
//	test.sleep    sleeps param "sleep"; attempt 1 of partition param "straggler" sleeps param "straggle";
//	              with param authorize=true it first asks for the commit grant (Task.Authorize) and
//	              the sleep stands for a side effect made under it: a copy denied the grant stops
//	test.gate     waits until the gate named by param "gate" opens (Open); with param authorize=true it
//	              then asks for the commit grant (Task.Authorize)
//
// and, for shuffles (usable across processes):
//
//	test.shufflemap    writes the shuffle output "shuffle": params n records (default 1000) over
//	                   keys keys (default 500; see ShuffleRecord) for reducers reducers (default 1),
//	                   placed by param placement (durable, served, served+durable, auto)
//	test.shufflecount  reads its partition of the "shuffle" outputs of stage param "from"
//	                   (default "map") and writes "result": lines "key count sum" in key order;
//	                   with param "gate", every attempt first waits until the object with that
//	                   key exists in the bucket (a test in another process puts it)
package testops

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/celebrity-zones/cz/engine"
)

func init() {
	engine.Register("test.noop", func(ctx context.Context, t *engine.Task) error { return nil })
	engine.Register("test.numbers", numbers)
	engine.Register("test.sum", sum)
	engine.Register("test.flaky", flaky)
	engine.Register("test.sleep", sleep)
	engine.Register("test.gate", gate)
}

func intParam(t *engine.Task, name string, def int) (int, error) {
	v := t.Param(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, engine.Fatal(fmt.Errorf("param %s: %v", name, err))
	}
	return n, nil
}

func numbers(ctx context.Context, t *engine.Task) error {
	n, err := intParam(t, "n", 10)
	if err != nil {
		return err
	}
	var b strings.Builder
	for i := t.Partition * n; i < (t.Partition+1)*n; i++ {
		fmt.Fprintln(&b, i)
	}
	t.Count("numbers", int64(n))
	return t.Put(ctx, "numbers", []byte(b.String()))
}

func sum(ctx context.Context, t *engine.Task) error {
	total := 0
	for _, stage := range strings.Split(t.Param("from"), ",") {
		for _, in := range t.Inputs(stage) {
			data, err := t.ReadInput(ctx, in)
			if err != nil {
				return err
			}
			for _, f := range strings.Fields(string(data)) {
				v, err := strconv.Atoi(f)
				if err != nil {
					return engine.Fatal(fmt.Errorf("%s: %v", in.Key, err))
				}
				total += v
			}
		}
	}
	t.Log.Info("summed", "total", total)
	return t.Put(ctx, "sum", []byte(strconv.Itoa(total)+"\n"))
}

func flaky(ctx context.Context, t *engine.Task) error {
	if t.Param("fatal") == "true" {
		return engine.Fatal(errors.New("bad input"))
	}
	at, err := intParam(t, "succeed_at", 2)
	if err != nil {
		return err
	}
	if t.ID.Attempt < at {
		return fmt.Errorf("transient failure on attempt %d", t.ID.Attempt)
	}
	return t.Put(ctx, "ok", []byte("ok\n"))
}

func sleep(ctx context.Context, t *engine.Task) error {
	if t.Param("authorize") == "true" {
		if err := t.Authorize(ctx); err != nil {
			return err
		}
	}
	d, _ := time.ParseDuration(t.Param("sleep"))
	if s, err := intParam(t, "straggler", -1); err == nil && s == t.Partition && t.ID.Attempt == 1 {
		d, _ = time.ParseDuration(t.Param("straggle"))
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return ctx.Err()
	}
	return t.Put(ctx, "slept", []byte(t.ID.String()))
}

var (
	gatesMu sync.Mutex
	gates   = map[string]chan struct{}{}
)

func gateChan(name string) chan struct{} {
	gatesMu.Lock()
	defer gatesMu.Unlock()
	if gates[name] == nil {
		gates[name] = make(chan struct{})
	}
	return gates[name]
}

// Open lets every test.gate task waiting on name finish.
func Open(name string) { close(gateChan(name)) }

func gate(ctx context.Context, t *engine.Task) error {
	select {
	case <-gateChan(t.Param("gate")):
		if t.Param("authorize") == "true" {
			if err := t.Authorize(ctx); err != nil {
				return err
			}
		}
		return t.Put(ctx, "passed", []byte("ok"))
	case <-ctx.Done():
		return ctx.Err()
	}
}
