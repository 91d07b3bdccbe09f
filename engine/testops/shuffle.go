package testops

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/shuffle"
	"github.com/celebrity-zones/cz/store"
)

func init() {
	engine.Register("test.shufflemap", shuffleMap)
	engine.Register("test.shufflecount", shuffleCount)
}

// ShuffleRecord is record i of map partition p of test.shufflemap: key
// "k%06d" of (p*7919+i) % keys, value p*1e6+i (little-endian uint64), so
// every value is unique and keys repeat across map tasks. Tests compute
// the expected counts and sums with it.
func ShuffleRecord(p, i, keys int) (key string, value uint64) {
	return fmt.Sprintf("k%06d", (p*7919+i)%keys), uint64(p*1_000_000 + i)
}

// shuffleMap writes param n records (default 1000) over param keys keys
// (default 500), hash-partitioned for param reducers reducers (default
// 1), as the shuffle output "shuffle" placed by param placement
// (shuffle.ParsePlacement; default durable).
func shuffleMap(ctx context.Context, t *engine.Task) error {
	n, err := intParam(t, "n", 1000)
	if err != nil {
		return err
	}
	keys, err := intParam(t, "keys", 500)
	if err != nil {
		return err
	}
	reducers, err := intParam(t, "reducers", 1)
	if err != nil {
		return err
	}
	if keys < 1 || reducers < 1 {
		return engine.Fatal(fmt.Errorf("params keys=%d, reducers=%d: want at least 1", keys, reducers))
	}
	place, err := shuffle.ParsePlacement(t.Param("placement"))
	if err != nil {
		return engine.Fatal(fmt.Errorf("param placement: %w", err))
	}
	w, err := shuffle.NewWriter(shuffle.Options{Partitioner: shuffle.Hash(reducers)})
	if err != nil {
		return engine.Fatal(err)
	}
	for i := range n {
		k, v := ShuffleRecord(t.Partition, i, keys)
		if err := w.Add([]byte(k), binary.LittleEndian.AppendUint64(nil, v)); err != nil {
			w.Discard()
			return err
		}
	}
	_, err = shuffle.WriteTask(ctx, t, "shuffle", w, place)
	return err
}

// shuffleCount reads its partition of the "shuffle" outputs of the
// upstream stage named by param from (default "map") and writes "result":
// one line "key count sum" per key, in key order. With param gate, every
// attempt first waits until the object with that key exists in the
// task's bucket: a test (in another process, even) puts it to let the
// reducers go.
func shuffleCount(ctx context.Context, t *engine.Task) error {
	if key := t.Param("gate"); key != "" {
		if err := waitForObject(ctx, t, key); err != nil {
			return err
		}
	}
	from := t.Param("from")
	if from == "" {
		from = "map"
	}
	r, err := shuffle.NewTaskReader(ctx, t, from, "shuffle", shuffle.ReadOptions{})
	if err != nil {
		return err
	}
	agg, err := r.Aggregate(ctx, func(acc, v []byte) []byte {
		if acc == nil {
			acc = make([]byte, 16)
		}
		binary.LittleEndian.PutUint64(acc, binary.LittleEndian.Uint64(acc)+1)
		binary.LittleEndian.PutUint64(acc[8:], binary.LittleEndian.Uint64(acc[8:])+binary.LittleEndian.Uint64(v))
		return acc
	})
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out bytes.Buffer
	for _, k := range keys {
		a := agg[k]
		fmt.Fprintf(&out, "%s %d %d\n", k, binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(a[8:]))
	}
	t.Count("keys", int64(len(keys)))
	return t.Put(ctx, "result", out.Bytes())
}

// waitForObject polls the task's bucket every 50ms until key exists.
func waitForObject(ctx context.Context, t *engine.Task, key string) error {
	t.Log.Info("waiting for the gate object", "key", key)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := t.Bucket.Stat(ctx, key)
		if err == nil {
			t.Log.Info("gate object found", "key", key)
			return nil
		}
		if !errors.Is(err, store.ErrNotExist) {
			return fmt.Errorf("gate object %s: %w", key, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// CheckShuffleCounts judges the "key count sum" results of a shuffle of
// maps map tasks of n records over keys keys (ShuffleRecord) into
// reducers reduce partitions: results[p] is partition p's output. Every
// key must appear exactly once, in the partition it hashes to, with the
// count and sum of its records; within a partition keys must be in order
// when ordered is set.
func CheckShuffleCounts(results [][]byte, maps, n, keys, reducers int, ordered bool) error {
	wantCount, wantSum := map[string]int{}, map[string]uint64{}
	for p := range maps {
		for i := range n {
			k, v := ShuffleRecord(p, i, keys)
			wantCount[k]++
			wantSum[k] += v
		}
	}
	if len(results) != reducers {
		return fmt.Errorf("%d reduce results, want %d", len(results), reducers)
	}
	seen := map[string]int{}
	rows := 0
	for part, data := range results {
		prev := ""
		for line := range bytes.Lines(data) {
			var k string
			var c int
			var s uint64
			if _, err := fmt.Sscan(string(line), &k, &c, &s); err != nil {
				return fmt.Errorf("reduce p%d line %q: %v", part, line, err)
			}
			if ordered && k <= prev {
				return fmt.Errorf("reduce p%d: key %s after %s, want key order", part, k, prev)
			}
			prev = k
			if p, dup := seen[k]; dup {
				return fmt.Errorf("key %s in reduce partitions %d and %d", k, p, part)
			}
			seen[k] = part
			if h := shuffle.Hash(reducers).Partition([]byte(k)); h != part {
				return fmt.Errorf("key %s in partition %d, hashes to %d", k, part, h)
			}
			if c != wantCount[k] || s != wantSum[k] {
				return fmt.Errorf("key %s: %d records summing to %d, want %d summing to %d", k, c, s, wantCount[k], wantSum[k])
			}
			rows += c
		}
	}
	if len(seen) != len(wantCount) || rows != maps*n {
		return fmt.Errorf("%d keys, %d records; want %d keys, %d records", len(seen), rows, len(wantCount), maps*n)
	}
	return nil
}
