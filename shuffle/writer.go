package shuffle

import (
	"bufio"
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Options shape a map-side Writer.
type Options struct {
	// Partitioner picks each record's reducer (required).
	Partitioner Partitioner
	// Sort sorts each segment by key (bytewise), so reducers can merge.
	Sort bool
	// Codec compresses blocks (default None).
	Codec Codec
	// BlockSize bounds a block's bytes, header included (default 1 MiB); a
	// record larger than that gets a block of its own.
	BlockSize int
	// MemoryBytes bounds buffered records before they spill to SpillDir
	// (default 64 MiB). The writer holds about this plus one block per
	// partition.
	MemoryBytes int64
	// SpillDir holds spill files (default os.TempDir()). They are unlinked
	// as soon as they are created, so nothing is left behind on a crash.
	SpillDir string
}

func (o *Options) defaults() error {
	if o.Partitioner == nil || o.Partitioner.Partitions() < 1 {
		return errors.New("shuffle: Options.Partitioner is required and must have at least 1 partition")
	}
	if o.BlockSize <= 0 {
		o.BlockSize = 1 << 20
	}
	if o.BlockSize > maxBlockRaw/2 {
		o.BlockSize = maxBlockRaw / 2
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 64 << 20
	}
	if o.MemoryBytes > 1<<31 {
		o.MemoryBytes = 1 << 31 // sorted buffers index with uint32
	}
	if o.SpillDir == "" {
		o.SpillDir = os.TempDir()
	}
	if o.Codec > Zstd {
		return fmt.Errorf("shuffle: unknown codec %d", o.Codec)
	}
	return nil
}

// Writer partitions records into one segment per reducer. Add records,
// then Finish once to write the segments, or Discard. Not safe for
// concurrent use.
type Writer struct {
	o      Options
	parts  []partition
	mem    int64
	spills []*spillFile
	stats  WriterStats
	done   bool
}

// WriterStats counts what a Writer did.
type WriterStats struct {
	Records    int64
	RawBytes   int64 // encoded record bytes before compression
	Spills     int
	SpillBytes int64
}

// partition is one reducer's buffered records.
type partition struct {
	// pending holds raw records not yet in a block (unsorted), or every
	// buffered record (sorted), with refs to them when sorting.
	pending []byte
	refs    []ref
	count   int
	// blocks holds finished blocks (unsorted only); pending then starts
	// with room for the next block's header.
	blocks [][]byte
	// records counts every record of the partition, spilled or not.
	records int64
}

// ref locates a record in a sorted partition's pending buffer.
type ref struct{ start, keyStart, keyEnd, end uint32 }

// spillFile is one spill: per partition, a byte range of blocks; sorted
// spills hold one sorted run per partition.
type spillFile struct {
	f    *os.File
	segs []segment
}

type segment struct{ off, len int64 }

// NewWriter returns a Writer with o.
func NewWriter(o Options) (*Writer, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	return &Writer{o: o, parts: make([]partition, o.Partitioner.Partitions())}, nil
}

// Stats returns the counts so far.
func (w *Writer) Stats() WriterStats { return w.stats }

// Add buffers one record; key and value are copied.
func (w *Writer) Add(key, value []byte) error {
	if w.done {
		return errors.New("shuffle: Add after Finish or Discard")
	}
	n := recordLen(key, value)
	if n > maxBlockRaw {
		return fmt.Errorf("shuffle: record of %d bytes (key %q...) exceeds the %d-byte block limit", n, clip(key), maxBlockRaw)
	}
	p := &w.parts[w.o.Partitioner.Partition(key)]
	before := len(p.pending)
	if w.o.Sort {
		start := len(p.pending)
		p.pending = appendRecord(p.pending, key, value)
		end := len(p.pending)
		keyStart := end - len(value) - len(key)
		p.refs = append(p.refs, ref{uint32(start), uint32(keyStart), uint32(keyStart + len(key)), uint32(end)})
		w.mem += 16
	} else {
		if p.pending == nil {
			p.pending = append(getBuf(w.o.BlockSize), zeroHeader[:]...)
			before = 0
		} else if len(p.pending)+n > w.o.BlockSize && p.count > 0 {
			w.sealBlock(p)
			before = len(p.pending)
		}
		p.pending = appendRecord(p.pending, key, value)
	}
	p.count++
	p.records++
	w.mem += int64(len(p.pending) - before)
	w.stats.Records++
	w.stats.RawBytes += int64(n)
	if w.mem > w.o.MemoryBytes {
		return w.spill()
	}
	return nil
}

func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

var zeroHeader [headerSize]byte

// sealBlock turns an unsorted partition's pending records into a block:
// in place without compression, else compressed into a new buffer.
func (w *Writer) sealBlock(p *partition) {
	raw := p.pending[headerSize:]
	var blk []byte
	if w.o.Codec == None {
		putHeader(p.pending[:headerSize], raw, len(raw), p.count, None, false)
		blk = p.pending
	} else {
		blk = appendBlock(getBuf(headerSize+maxEncodedLen(w.o.Codec, len(raw))), raw, p.count, w.o.Codec, false)
		w.mem += int64(len(blk) - len(p.pending))
		putBuf(p.pending)
	}
	p.blocks = append(p.blocks, blk)
	p.pending = append(getBuf(w.o.BlockSize), zeroHeader[:]...)
	w.mem += headerSize
	p.count = 0
}

// spill writes every partition's buffered records to a new spill file.
func (w *Writer) spill() error {
	f, err := os.CreateTemp(w.o.SpillDir, "cz-shuffle-spill-")
	if err != nil {
		return fmt.Errorf("shuffle: spill: %w", err)
	}
	os.Remove(f.Name()) // the open descriptor keeps it until Finish
	s := &spillFile{f: f, segs: make([]segment, len(w.parts))}
	cw := &countWriter{w: bufio.NewWriterSize(f, 64<<10)}
	for i := range w.parts {
		start := cw.n
		if err := w.flushPartition(cw, &w.parts[i]); err != nil {
			f.Close()
			return fmt.Errorf("shuffle: spill: %w", err)
		}
		s.segs[i] = segment{start, cw.n - start}
	}
	if err := cw.w.(*bufio.Writer).Flush(); err != nil {
		f.Close()
		return fmt.Errorf("shuffle: spill: %w", err)
	}
	w.spills = append(w.spills, s)
	w.stats.Spills++
	w.stats.SpillBytes += cw.n
	w.mem = 0
	return nil
}

// flushPartition writes a partition's buffered records as blocks (one
// sorted run when sorting) and empties its buffers.
func (w *Writer) flushPartition(dst io.Writer, p *partition) error {
	if !w.o.Sort {
		if p.count > 0 {
			w.sealBlock(p)
		}
		var err error
		for i, blk := range p.blocks {
			if err == nil {
				_, err = dst.Write(blk)
			}
			putBuf(blk)
			p.blocks[i] = nil
		}
		p.blocks = p.blocks[:0]
		if p.pending != nil {
			putBuf(p.pending)
			p.pending = nil
		}
		return err
	}
	buf := p.pending
	slices.SortFunc(p.refs, func(a, b ref) int {
		return bytes.Compare(buf[a.keyStart:a.keyEnd], buf[b.keyStart:b.keyEnd])
	})
	bb := blockBuilder{dst: dst, codec: w.o.Codec, size: w.o.BlockSize, sorted: true}
	for _, r := range p.refs {
		if err := bb.addRaw(buf[r.start:r.end]); err != nil {
			return err
		}
	}
	if err := bb.flush(); err != nil {
		return err
	}
	p.pending, p.refs, p.count = p.pending[:0], p.refs[:0], 0
	return nil
}

// blockBuilder cuts a stream of records into blocks written to dst.
type blockBuilder struct {
	dst    io.Writer
	codec  Codec
	size   int
	sorted bool
	raw    []byte
	count  int
	out    []byte
}

func (b *blockBuilder) addRaw(rec []byte) error {
	if len(b.raw)+len(rec) > b.size && b.count > 0 {
		if err := b.flush(); err != nil {
			return err
		}
	}
	b.raw = append(b.raw, rec...)
	b.count++
	return nil
}

func (b *blockBuilder) add(key, value []byte) error {
	if len(b.raw)+recordLen(key, value) > b.size && b.count > 0 {
		if err := b.flush(); err != nil {
			return err
		}
	}
	b.raw = appendRecord(b.raw, key, value)
	b.count++
	return nil
}

func (b *blockBuilder) flush() error {
	if b.count == 0 {
		return nil
	}
	b.out = appendBlock(b.out[:0], b.raw, b.count, b.codec, b.sorted)
	b.raw, b.count = b.raw[:0], 0
	_, err := b.dst.Write(b.out)
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Finish writes the segments of reducers 0..N-1 to dst, back to back, and
// returns their index. Spill files are merged (sorted) or copied
// (unsorted) and then released.
func (w *Writer) Finish(dst io.Writer) (*Index, error) {
	if w.done {
		return nil, errors.New("shuffle: Finish called twice")
	}
	w.done = true
	defer w.release()
	// Blocks larger than the buffer bypass it.
	bw := bufio.NewWriterSize(dst, 64<<10)
	cw := &countWriter{w: bw}
	idx := &Index{Version: IndexVersion, Codec: w.o.Codec.String(), Sorted: w.o.Sort,
		Offsets: make([]int64, len(w.parts)+1), Records: make([]int64, len(w.parts))}
	for i := range w.parts {
		p := &w.parts[i]
		idx.Offsets[i] = cw.n
		idx.Records[i] = p.records
		var err error
		if w.o.Sort && len(w.spills) > 0 {
			err = w.mergePartition(cw, i)
		} else {
			for _, s := range w.spills {
				seg := s.segs[i]
				if _, err = io.Copy(cw, io.NewSectionReader(s.f, seg.off, seg.len)); err != nil {
					break
				}
			}
			if err == nil {
				err = w.flushPartition(cw, p)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("shuffle: writing segment %d: %w", i, err)
		}
		*p = partition{}
	}
	idx.Offsets[len(w.parts)] = cw.n
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("shuffle: writing segments: %w", err)
	}
	return idx, nil
}

// mergePartition k-way merges the sorted runs of partition i (one per
// spill, plus what is still in memory) into one sorted run on dst.
func (w *Writer) mergePartition(dst io.Writer, i int) error {
	p := &w.parts[i]
	var mem bytes.Buffer
	if err := w.flushPartition(&mem, p); err != nil {
		return err
	}
	var runs []*runCursor
	for k, s := range w.spills {
		seg := s.segs[i]
		runs = append(runs, &runCursor{order: k, br: blockReader{r: bufio.NewReaderSize(io.NewSectionReader(s.f, seg.off, seg.len), 256<<10),
			source: fmt.Sprintf("spill %d of partition %d", k, i)}})
	}
	runs = append(runs, &runCursor{order: len(w.spills), br: blockReader{r: &mem, source: fmt.Sprintf("memory run of partition %d", i)}})
	bb := blockBuilder{dst: dst, codec: w.o.Codec, size: w.o.BlockSize, sorted: true}
	err := mergeRuns(runs, func(key, value []byte) error { return bb.add(key, value) })
	if err != nil {
		return err
	}
	return bb.flush()
}

// Discard drops everything buffered and spilled.
func (w *Writer) Discard() {
	w.done = true
	w.release()
}

func (w *Writer) release() {
	for _, s := range w.spills {
		s.f.Close()
	}
	w.spills = nil
	w.parts = nil
	w.mem = 0
}

// runCursor walks the records of one sorted run.
type runCursor struct {
	order      int // ties go to the lower order, keeping merges stable
	br         blockReader
	block      []byte
	key, value []byte
}

// advance moves to the next record; false at the run's end.
func (c *runCursor) advance() (bool, error) {
	for len(c.block) == 0 {
		raw, _, err := c.br.next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		c.block = raw
	}
	k, v, rest, err := readRecord(c.block)
	if err != nil {
		return false, c.br.fail(err)
	}
	c.key, c.value, c.block = k, v, rest
	return true, nil
}

type runHeap []*runCursor

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].key, h[j].key); c != 0 {
		return c < 0
	}
	return h[i].order < h[j].order
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runCursor)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeRuns calls fn with every record of the sorted runs in key order.
// key and value are valid only during the call.
func mergeRuns(runs []*runCursor, fn func(key, value []byte) error) error {
	h := make(runHeap, 0, len(runs))
	for _, c := range runs {
		ok, err := c.advance()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		c := h[0]
		if err := fn(c.key, c.value); err != nil {
			return err
		}
		ok, err := c.advance()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}
