package shuffle

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/celebrity-zones/cz/engine"
)

// MapOutput is one committed map task's output, as a reducer sees it.
type MapOutput struct {
	// Stage and Partition name the map task.
	Stage     string
	Partition int
	Index     *Index
	// DataKey is the object-store key of the data (durable placement), or "".
	DataKey string
}

func (m MapOutput) String() string { return fmt.Sprintf("map output %s/p%d", m.Stage, m.Partition) }

func (m MapOutput) source(reduce int) string {
	where := m.DataKey
	if m.Index.Server != "" {
		where = m.Index.Server + "/" + m.Index.Block
	}
	return fmt.Sprintf("segment %d of %s (%s)", reduce, m, where)
}

// Fetcher fetches one reducer's segment of a map output.
type Fetcher interface {
	Fetch(ctx context.Context, m MapOutput, reduce int) (io.ReadCloser, error)
}

// LostOutputError says a map output's data is gone (its executor died and
// the data had no durable copy). Re-running only that map task fixes it:
// the Reader returns it wrapped in engine.LostInput, so that an engine
// running the reduce task re-opens that map task, and the reduce attempt
// does not count against the job's MaxAttempts.
type LostOutputError struct {
	Stage     string
	Partition int
	Err       error
}

func (e *LostOutputError) Error() string {
	return fmt.Sprintf("shuffle: map output %s/p%d is lost (re-run map task %s/p%d): %v", e.Stage, e.Partition, e.Stage, e.Partition, e.Err)
}
func (e *LostOutputError) Unwrap() error { return e.Err }

// Lost returns the map task to re-run when err says a map output is lost.
func Lost(err error) (stage string, partition int, ok bool) {
	var l *LostOutputError
	if errors.As(err, &l) {
		return l.Stage, l.Partition, true
	}
	return "", 0, false
}

// ReadOptions shape a Reader.
type ReadOptions struct {
	// Concurrency bounds parallel fetches (default 4).
	Concurrency int
	// Retries is how many times a failed fetch is retried (default 3),
	// with exponential backoff from Backoff (default 20ms).
	Retries int
	Backoff time.Duration
	// MemoryBytes bounds fetched bytes held in memory (default 256 MiB).
	// Each waits for room (backpressure); Sorted spills to SpillDir.
	MemoryBytes int64
	SpillDir    string
}

func (o *ReadOptions) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 20 * time.Millisecond
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 256 << 20
	}
	if o.SpillDir == "" {
		o.SpillDir = os.TempDir()
	}
}

// Reader reads one reduce partition from a set of map outputs.
type Reader struct {
	f      Fetcher
	outs   []MapOutput
	reduce int
	o      ReadOptions

	mu    sync.Mutex
	stats ReaderStats
}

// ReaderStats counts what a Reader did.
type ReaderStats struct {
	Segments     int
	FetchedBytes int64
	Retries      int
	SpilledBytes int64
	Records      int64
}

// NewReader returns a reader of reduce partition reduce of outs.
func NewReader(f Fetcher, outs []MapOutput, reduce int, o ReadOptions) *Reader {
	o.defaults()
	return &Reader{f: f, outs: outs, reduce: reduce, o: o}
}

// Stats returns the counts so far.
func (r *Reader) Stats() ReaderStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// fetched is one fetched segment, in memory or in a spill file.
type fetched struct {
	m    MapOutput
	data []byte
	file *os.File
	size int64
}

func (f *fetched) reader() io.Reader {
	if f.file != nil {
		return bufio.NewReaderSize(io.NewSectionReader(f.file, 0, f.size), 256<<10)
	}
	return bytes.NewReader(f.data)
}

func (f *fetched) close() {
	if f.file != nil {
		f.file.Close()
	}
	if f.data != nil {
		putBuf(f.data)
		f.data = nil
	}
}

// budget is a byte semaphore; one request larger than the whole budget is
// let through alone.
type budget struct {
	mu   sync.Mutex
	cond *sync.Cond
	max  int64
	used int64
}

func newBudget(max int64) *budget {
	b := &budget{max: max}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *budget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used > 0 && b.used+n > b.max {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.cond.Wait()
	}
	b.used += n
	return ctx.Err()
}

func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used > 0 && b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}

// fetchAll fetches every non-empty segment with bounded concurrency and
// hands each to deliver (on one goroutine, in arrival order). With spill,
// segments that do not fit the memory budget go to a spill file instead of
// waiting; without, fetching waits for deliver to release room.
func (r *Reader) fetchAll(ctx context.Context, spill bool, deliver func(*fetched) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mem := newBudget(r.o.MemoryBytes)
	// Wake a dispatcher waiting for room when the fetch is abandoned.
	stop := context.AfterFunc(ctx, func() {
		mem.mu.Lock()
		mem.mu.Unlock()
		mem.cond.Broadcast()
	})
	defer stop()
	results := make(chan *fetched)
	errc := make(chan error, 1)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel()
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, r.o.Concurrency)
	go func() {
		defer func() { wg.Wait(); close(results) }()
		for _, m := range r.outs {
			_, n := m.Index.Segment(r.reduce)
			if n == 0 {
				continue
			}
			inMem := true
			if spill {
				inMem = mem.tryAcquire(n)
			} else if err := mem.acquire(ctx, n); err != nil {
				return
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				if inMem {
					mem.release(n)
				}
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				f, err := r.fetchRetrying(ctx, m, inMem)
				if err != nil {
					if inMem {
						mem.release(n)
					}
					fail(err)
					return
				}
				select {
				case results <- f:
				case <-ctx.Done():
					f.close()
					if inMem {
						mem.release(n)
					}
				}
			}()
		}
	}()
	var derr error
	for f := range results {
		if derr == nil {
			derr = deliver(f)
			if derr != nil {
				cancel()
			}
		}
		if !spill {
			// Consumed: make room for the next fetch. (Sorted keeps its
			// segments until the merge ends, so their room stays taken.)
			f.close()
			mem.release(f.size)
		}
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	if derr != nil {
		return derr
	}
	return ctx.Err()
}

// fetchRetrying fetches one segment, verifying its blocks, with retries.
func (r *Reader) fetchRetrying(ctx context.Context, m MapOutput, inMem bool) (*fetched, error) {
	off, n := m.Index.Segment(r.reduce)
	_ = off
	src := m.source(r.reduce)
	backoff := r.o.Backoff
	var last error
	for try := 0; try <= r.o.Retries; try++ {
		if try > 0 {
			r.mu.Lock()
			r.stats.Retries++
			r.mu.Unlock()
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			backoff *= 2
		}
		f, err := r.fetchOnce(ctx, m, n, src, inMem)
		if err == nil {
			r.mu.Lock()
			r.stats.Segments++
			r.stats.FetchedBytes += n
			if f.file != nil {
				r.stats.SpilledBytes += n
			}
			r.mu.Unlock()
			return f, nil
		}
		last = err
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrBlockNotFound) {
			break // the server answered: it does not have it
		}
	}
	if m.DataKey == "" && m.Index.Server != "" {
		// Marked for the engine, which re-runs only that map task (and
		// this reduce task after it) without counting a failure.
		return nil, engine.LostInput(m.Stage, m.Partition, &LostOutputError{Stage: m.Stage, Partition: m.Partition, Err: last})
	}
	return nil, fmt.Errorf("shuffle: fetching %s failed after %d tries: %w", src, r.o.Retries+1, last)
}

func (r *Reader) fetchOnce(ctx context.Context, m MapOutput, n int64, src string, inMem bool) (*fetched, error) {
	rc, err := r.f.Fetch(ctx, m, r.reduce)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f := &fetched{m: m, size: n}
	if inMem {
		f.data = getBuf(int(n))[:n]
		if _, err := io.ReadFull(rc, f.data); err != nil {
			f.close()
			return nil, fmt.Errorf("reading %s: %w", src, noEOF(err))
		}
		if err := verifySegment(f.data, src); err != nil {
			f.close()
			return nil, err
		}
		return f, nil
	}
	file, err := os.CreateTemp(r.o.SpillDir, "cz-shuffle-fetch-")
	if err != nil {
		return nil, err
	}
	os.Remove(file.Name())
	if got, err := io.Copy(file, io.LimitReader(rc, n)); err != nil || got != n {
		file.Close()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	f.file = file
	return f, nil
}

// verifySegment checks every block's header and payload checksum without
// decompressing, so a corrupt transfer is retried.
func verifySegment(data []byte, src string) error {
	var off int64
	for i := 0; len(data) > 0; i++ {
		if len(data) < headerSize {
			return &BlockError{Source: src, Block: i, Offset: off, Err: fmt.Errorf("truncated header (%d bytes)", len(data))}
		}
		h, err := parseHeader(data[:headerSize])
		if err != nil {
			return &BlockError{Source: src, Block: i, Offset: off, Err: err}
		}
		end := headerSize + int(h.payloadLen)
		if end > len(data) {
			return &BlockError{Source: src, Block: i, Offset: off, Err: fmt.Errorf("payload of %d bytes overruns the segment", h.payloadLen)}
		}
		if got := crc32c(data[headerSize:end]); got != h.crc {
			return &BlockError{Source: src, Block: i, Offset: off, Err: fmt.Errorf("payload %w (stored %08x, computed %08x)", ErrChecksum, h.crc, got)}
		}
		data = data[end:]
		off += int64(end)
	}
	return nil
}

// eachRecord decodes every record of a fetched segment.
func (r *Reader) eachRecord(f *fetched, fn func(key, value []byte) error) error {
	br := blockReader{r: f.reader(), source: f.m.source(r.reduce), verified: f.data != nil}
	var n int64
	for {
		raw, count, err := br.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		for i := 0; i < count; i++ {
			k, v, rest, err := readRecord(raw)
			if err != nil {
				return br.fail(err)
			}
			if err := fn(k, v); err != nil {
				return err
			}
			raw = rest
		}
		if len(raw) != 0 {
			return br.fail(fmt.Errorf("%d bytes after the block's %d records", len(raw), count))
		}
		n += int64(count)
	}
	r.mu.Lock()
	r.stats.Records += n
	r.mu.Unlock()
	if want := f.m.Index.Records[r.reduce]; n != want {
		return fmt.Errorf("shuffle: %s holds %d records, its index says %d", f.m.source(r.reduce), n, want)
	}
	return nil
}

// Each calls fn with every record of the partition, segment by segment in
// arrival order, on the calling goroutine. key and value are valid only
// during the call. Fetching stops while MemoryBytes of fetched segments
// wait to be read (backpressure).
func (r *Reader) Each(ctx context.Context, fn func(key, value []byte) error) error {
	return r.fetchAll(ctx, false, func(f *fetched) error { return r.eachRecord(f, fn) })
}

// Sorted calls fn with every record of the partition in key order (a
// k-way merge of the map outputs' sorted segments); the map side must have
// sorted (Options.Sort). Segments beyond MemoryBytes are spilled to disk.
func (r *Reader) Sorted(ctx context.Context, fn func(key, value []byte) error) error {
	for _, m := range r.outs {
		if !m.Index.Sorted {
			return fmt.Errorf("shuffle: %s was not sorted on the map side (Options.Sort)", m)
		}
	}
	var segs []*fetched
	defer func() {
		for _, f := range segs {
			f.close()
		}
	}()
	if err := r.fetchAll(ctx, true, func(f *fetched) error { segs = append(segs, f); return nil }); err != nil {
		return err
	}
	runs := make([]*runCursor, len(segs))
	var total int64
	for i, f := range segs {
		runs[i] = &runCursor{order: f.m.Partition, br: blockReader{r: f.reader(), source: f.m.source(r.reduce), verified: f.data != nil}}
		total += f.m.Index.Records[r.reduce]
	}
	var n int64
	err := mergeRuns(runs, func(k, v []byte) error { n++; return fn(k, v) })
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.stats.Records += n
	r.mu.Unlock()
	if n != total {
		return fmt.Errorf("shuffle: partition %d merged %d records, the indexes say %d", r.reduce, n, total)
	}
	return nil
}

// Groups calls fn once per distinct key, in key order, with all its values
// (copies, in map-partition order). It needs sorted map outputs.
func (r *Reader) Groups(ctx context.Context, fn func(key []byte, values [][]byte) error) error {
	var key []byte
	var values [][]byte
	started := false
	err := r.Sorted(ctx, func(k, v []byte) error {
		if started && !bytes.Equal(k, key) {
			if err := fn(key, values); err != nil {
				return err
			}
			values = nil
		}
		started = true
		key = append(key[:0], k...)
		values = append(values, bytes.Clone(v))
		return nil
	})
	if err != nil || !started {
		return err
	}
	return fn(key, values)
}

// Combine folds value into acc, the result so far for a key (nil for the
// key's first value), and returns the new result. It may reuse acc's
// memory; value is valid only during the call.
type Combine func(acc, value []byte) []byte

// Aggregate folds every record of the partition by key with combine (hash
// aggregation) and returns key -> result.
func (r *Reader) Aggregate(ctx context.Context, combine Combine) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := r.Each(ctx, func(k, v []byte) error {
		acc, ok := out[string(k)]
		if !ok {
			acc = nil
		}
		out[string(k)] = combine(acc, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
