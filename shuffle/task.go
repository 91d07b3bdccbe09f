package shuffle

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/store"
)

// Placement says where a map task keeps its data.
type Placement int

const (
	// Durable writes the data to the object store: a lost executor costs
	// no recompute. The default, and the one for spot executors.
	Durable Placement = iota
	// Served keeps the data on the executor's disk (SetExecutorBlocks) and
	// serves it to reducers; a lost executor means re-running its map tasks.
	Served
	// ServedDurable serves the data and also copies it to the store, which
	// reducers fall back to when the executor is gone.
	ServedDurable
	// Auto is Durable where the executor serves no blocks, ServedDurable
	// on spot executors and Served on others (SetExecutorBlocks).
	Auto
)

// ParsePlacement reads durable, served, served+durable or auto.
func ParsePlacement(s string) (Placement, error) {
	switch s {
	case "auto":
		return Auto, nil
	case "durable", "":
		return Durable, nil
	case "served":
		return Served, nil
	case "served+durable":
		return ServedDurable, nil
	}
	return 0, fmt.Errorf("placement %q: want durable, served, served+durable or auto", s)
}

// WriteTask finishes w as map task t's output called name: the outputs
// "<name>.data" (unless Served) and "<name>.index". Like every attempt
// output they become visible only if the attempt commits.
func WriteTask(ctx context.Context, t *engine.Task, name string, w *Writer, p Placement) (*Index, error) {
	dataName, indexName := name+".data", name+".index"
	toStore := func(dst io.Writer) (*Index, error) {
		out, err := t.Output(ctx, dataName)
		if err != nil {
			return nil, err
		}
		var sink io.Writer = out
		if dst != nil {
			sink = io.MultiWriter(dst, out)
		}
		idx, err := w.Finish(sink)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		idx.Data = dataName
		return idx, nil
	}
	blocks, addr, spot := executorBlocks()
	if p == Auto {
		switch {
		case blocks == nil:
			p = Durable
		case spot:
			p = ServedDurable
		default:
			p = Served
		}
	}
	var idx *Index
	var err error
	switch p {
	case Durable:
		idx, err = toStore(nil)
	case Served, ServedDurable:
		if blocks == nil {
			w.Discard()
			return nil, engine.Fatal(fmt.Errorf("shuffle: placement served needs the executor's blocks (SetExecutorBlocks)"))
		}
		block := t.ID.String() + "/" + name
		idx, err = blocks.Write(block, func(f io.Writer) (*Index, error) {
			if p == ServedDurable {
				return toStore(f)
			}
			return w.Finish(f)
		})
		if err == nil {
			idx.Server, idx.Block = addr, block
		}
	default:
		w.Discard()
		return nil, engine.Fatal(fmt.Errorf("shuffle: unknown placement %d", p))
	}
	if err != nil {
		w.Discard() // releases spill files if Finish never ran
		return nil, fmt.Errorf("shuffle: writing %s of %s: %w", name, t.ID, err)
	}
	idx.MapPartitions = t.Partitions
	if err := t.Put(ctx, indexName, idx.marshal()); err != nil {
		return nil, err
	}
	st := w.Stats()
	t.Count("shuffle_records", st.Records)
	t.Count("shuffle_bytes", idx.Offsets[len(idx.Offsets)-1])
	if st.Spills > 0 {
		t.Count("shuffle_spills", int64(st.Spills))
	}
	return idx, nil
}

// MapOutputs returns the committed map outputs called name of every
// partition of an upstream stage: only the committed attempt of each map
// task is listed, so each record is read once.
func MapOutputs(ctx context.Context, t *engine.Task, stage, name string) ([]MapOutput, error) {
	var outs []MapOutput
	for p := 0; ; p++ {
		ins := t.InputsOf(stage, p)
		if len(ins) == 0 {
			break // past the last partition (a gap is caught by MapPartitions below)
		}
		m := MapOutput{Stage: stage, Partition: p}
		var indexKey string
		for _, o := range ins {
			switch o.Name {
			case name + ".index":
				indexKey = o.Key
			case name + ".data":
				m.DataKey = o.Key
			}
		}
		if indexKey == "" {
			return nil, engine.Fatal(fmt.Errorf("shuffle: %s/p%d has no committed output %s.index: does its operator call shuffle.WriteTask with name %q?", stage, p, name, name))
		}
		m.Index = &Index{Data: indexKey} // the key to read, replaced below
		outs = append(outs, m)
	}
	if len(outs) == 0 {
		return nil, engine.Fatal(fmt.Errorf("shuffle: upstream stage %q has no partitions (is it listed in the stage's upstream?)", stage))
	}
	// Read the indexes, a few at a time.
	var wg sync.WaitGroup
	errs := make([]error, len(outs))
	slots := make(chan struct{}, 8)
	for i := range outs {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			key := outs[i].Index.Data
			data, err := store.ReadAll(ctx, t.Bucket, key)
			if err != nil {
				errs[i] = err
				return
			}
			idx, err := parseIndex(store.Join(t.Bucket.URL(), key), data)
			if err != nil {
				errs[i] = engine.Fatal(err)
				return
			}
			if idx.Partitions() != t.Partitions {
				errs[i] = engine.Fatal(fmt.Errorf("shuffle: %s was written for %d reducers, this stage has %d partitions", outs[i], idx.Partitions(), t.Partitions))
				return
			}
			if idx.MapPartitions != 0 && idx.MapPartitions != len(outs) {
				errs[i] = engine.Fatal(fmt.Errorf("shuffle: %s says its stage has %d map partitions; %d have committed outputs", outs[i], idx.MapPartitions, len(outs)))
				return
			}
			outs[i].Index = idx
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return outs, nil
}

// NewTaskReader returns a reader of reduce task t's partition of the map
// outputs called name of stage.
func NewTaskReader(ctx context.Context, t *engine.Task, stage, name string, o ReadOptions) (*Reader, error) {
	outs, err := MapOutputs(ctx, t, stage, name)
	if err != nil {
		return nil, err
	}
	return NewReader(StoreFetcher{Bucket: t.Bucket}, outs, t.Partition, o), nil
}

// StoreFetcher fetches segments from the map output's BlockServer when it
// has one (served placement), falling back to, or else reading, the object
// store with a ranged GET.
type StoreFetcher struct {
	Bucket store.Bucket
}

// Fetch implements Fetcher.
func (f StoreFetcher) Fetch(ctx context.Context, m MapOutput, reduce int) (io.ReadCloser, error) {
	off, n := m.Index.Segment(reduce)
	if m.Index.Server != "" {
		s, err := Dial(m.Index.Server)
		if err == nil {
			var rc io.ReadCloser
			if rc, err = s.OpenSegment(ctx, m.Index.Block, reduce); err == nil {
				return rc, nil
			}
		}
		if m.DataKey == "" {
			return nil, err
		}
	}
	if m.DataKey == "" {
		return nil, fmt.Errorf("%s has neither a server nor a durable copy", m)
	}
	return f.Bucket.GetRange(ctx, m.DataKey, off, n)
}
