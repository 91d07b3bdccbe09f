package shuffle

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// memOutputs holds map outputs in memory and fetches their segments.
type memOutputs struct {
	data  map[int][]byte // map partition -> data
	outs  []MapOutput
	calls atomic.Int64
	// fail, when set, may replace a fetch's result.
	fail func(call int64, m MapOutput) (corrupt bool, err error)
}

func (mo *memOutputs) Fetch(ctx context.Context, m MapOutput, reduce int) (io.ReadCloser, error) {
	call := mo.calls.Add(1)
	off, n := m.Index.Segment(reduce)
	seg := mo.data[m.Partition][off : off+n]
	if mo.fail != nil {
		corrupt, err := mo.fail(call, m)
		if err != nil {
			return nil, err
		}
		if corrupt && len(seg) > headerSize+1 {
			seg = bytes.Clone(seg)
			seg[headerSize+1] ^= 1
		}
	}
	return io.NopCloser(bytes.NewReader(seg)), nil
}

// record i of map partition p: keys repeat across map partitions.
func testRecord(p, i, keys int) (key, value []byte) {
	key = fmt.Appendf(nil, "key-%06d", (p*7919+i)%keys)
	value = binary.LittleEndian.AppendUint64(nil, uint64(p*1_000_000+i))
	return key, value
}

// writeOutputs writes maps map outputs of n records each.
func writeOutputs(t *testing.T, maps, n, keys int, o Options) *memOutputs {
	t.Helper()
	mo := &memOutputs{data: map[int][]byte{}}
	for p := 0; p < maps; p++ {
		w, err := NewWriter(o)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := w.Add(testRecord(p, i, keys)); err != nil {
				t.Fatal(err)
			}
		}
		st := w.Stats()
		var buf bytes.Buffer
		idx, err := w.Finish(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if o.Codec == None && o.MemoryBytes > 0 && o.MemoryBytes < st.RawBytes/2 && st.Spills == 0 {
			t.Fatalf("%d raw bytes with a %d-byte budget did not spill", st.RawBytes, o.MemoryBytes)
		}
		if o.SpillDir != "" {
			if left, _ := os.ReadDir(o.SpillDir); len(left) != 0 {
				t.Fatalf("spill files left behind: %v", left)
			}
		}
		idx.Data = "mem"
		if err := idx.Validate("test"); err != nil {
			t.Fatal(err)
		}
		if idx.Offsets[len(idx.Offsets)-1] != int64(buf.Len()) {
			t.Fatalf("index ends at %d, data is %d bytes", idx.Offsets[len(idx.Offsets)-1], buf.Len())
		}
		mo.data[p] = buf.Bytes()
		mo.outs = append(mo.outs, MapOutput{Stage: "map", Partition: p, Index: idx})
	}
	return mo
}

// checkConservation reads every reduce partition and checks that each
// record of every map output arrives exactly once, in the partition its
// key hashes to, and (sorted) in key order.
func checkConservation(t *testing.T, mo *memOutputs, maps, n, keys int, o Options, ro ReadOptions) {
	t.Helper()
	ro.defaults()
	seen := map[uint64]int{}
	keyPart := map[string]int{}
	R := o.Partitioner.Partitions()
	for r := 0; r < R; r++ {
		rd := NewReader(mo, mo.outs, r, ro)
		var prev []byte
		read := rd.Each
		if o.Sort {
			read = rd.Sorted
		}
		err := read(context.Background(), func(k, v []byte) error {
			if o.Sort && prev != nil && bytes.Compare(prev, k) > 0 {
				return fmt.Errorf("partition %d: %q after %q", r, k, prev)
			}
			prev = append(prev[:0], k...)
			if got := o.Partitioner.Partition(k); got != r {
				return fmt.Errorf("key %q in partition %d, belongs in %d", k, r, got)
			}
			if p, ok := keyPart[string(k)]; ok && p != r {
				return fmt.Errorf("key %q in partitions %d and %d", k, p, r)
			}
			keyPart[string(k)] = r
			seen[binary.LittleEndian.Uint64(v)]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Sorted holds every segment: past the budget (plus one segment,
		// which is always let in) some must go to disk.
		var segBytes, maxSeg int64
		for _, m := range mo.outs {
			_, n := m.Index.Segment(r)
			segBytes += n
			maxSeg = max(maxSeg, n)
		}
		if st := rd.Stats(); st.FetchedBytes != segBytes || (o.Sort && segBytes > ro.MemoryBytes+maxSeg && st.SpilledBytes == 0) {
			t.Fatalf("partition %d: stats %+v for %d segment bytes and a %d-byte budget", r, st, segBytes, ro.MemoryBytes)
		}
	}
	for p := 0; p < maps; p++ {
		for i := 0; i < n; i++ {
			if c := seen[uint64(p*1_000_000+i)]; c != 1 {
				t.Fatalf("record %d of map %d seen %d times", i, p, c)
			}
		}
	}
	if len(seen) != maps*n {
		t.Fatalf("%d distinct records, want %d", len(seen), maps*n)
	}
}

func TestWriterReaderConserveRecords(t *testing.T) {
	rp, _ := Range([][]byte{[]byte("key-000300"), []byte("key-000600")})
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"hash unsorted in memory", Options{Partitioner: Hash(5)}},
		{"hash unsorted spilling", Options{Partitioner: Hash(5), MemoryBytes: 16 << 10, BlockSize: 2 << 10}},
		{"hash unsorted spilling zstd", Options{Partitioner: Hash(5), Codec: Zstd, MemoryBytes: 4 << 10, BlockSize: 1 << 10}},
		{"hash sorted in memory snappy", Options{Partitioner: Hash(4), Sort: true, Codec: Snappy}},
		{"hash sorted spilling", Options{Partitioner: Hash(4), Sort: true, MemoryBytes: 20 << 10, BlockSize: 1 << 10}},
		{"range sorted spilling zstd", Options{Partitioner: rp, Sort: true, Codec: Zstd, MemoryBytes: 20 << 10, BlockSize: 4 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.SpillDir = t.TempDir()
			mo := writeOutputs(t, 3, 3000, 1000, tc.o)
			checkConservation(t, mo, 3, 3000, 1000, tc.o, ReadOptions{Concurrency: 2, MemoryBytes: 16 << 10, SpillDir: t.TempDir()})
		})
	}
}

func TestReaderRetriesFailedAndCorruptFetches(t *testing.T) {
	o := Options{Partitioner: Hash(2), Sort: true, Codec: Snappy}
	mo := writeOutputs(t, 4, 500, 100, o)
	mo.fail = func(call int64, m MapOutput) (bool, error) {
		switch call {
		case 1:
			return false, errors.New("connection reset")
		case 2:
			return true, nil
		}
		return false, nil
	}
	checkConservation(t, mo, 4, 500, 100, o, ReadOptions{Backoff: time.Millisecond, Concurrency: 1})

	mo.calls.Store(0)
	mo.fail = func(call int64, m MapOutput) (bool, error) { return m.Partition == 2, nil }
	rd := NewReader(mo, mo.outs, 1, ReadOptions{Backoff: time.Millisecond, Retries: 2})
	err := rd.Each(context.Background(), func(k, v []byte) error { return nil })
	var be *BlockError
	if !errors.As(err, &be) || !errors.Is(err, ErrChecksum) || be.Block != 0 {
		t.Fatalf("persistently corrupt segment: %v, want a checksum BlockError for block 0", err)
	}
	if want := "segment 1 of map output map/p2"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("error %q does not name %q", err, want)
	}
	if rd.Stats().Retries != 2 {
		t.Fatalf("%d retries, want 2", rd.Stats().Retries)
	}
}

func TestEachAppliesBackpressure(t *testing.T) {
	o := Options{Partitioner: Hash(1)}
	mo := writeOutputs(t, 6, 1000, 1000, o)
	seg := mo.outs[0].Index.Offsets[1]
	// Room for two segments: while the consumer holds the first, at most
	// one more may be fetched.
	rd := NewReader(mo, mo.outs, 0, ReadOptions{Concurrency: 6, MemoryBytes: 2*seg + 100})
	hold := make(chan struct{})
	first := true
	done := make(chan error, 1)
	go func() {
		done <- rd.Each(context.Background(), func(k, v []byte) error {
			if first {
				first = false
				<-hold
			}
			return nil
		})
	}()
	time.Sleep(100 * time.Millisecond) // give fetchers the chance to overrun
	if c := mo.calls.Load(); c > 2 {
		t.Fatalf("%d segments fetched while the consumer held the first, budget allows 2", c)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rd.Stats().Records; got != 6000 {
		t.Fatalf("read %d records, want 6000", got)
	}
}

func TestAggregateAndGroups(t *testing.T) {
	o := Options{Partitioner: Hash(3), Sort: true, Codec: Zstd}
	mo := writeOutputs(t, 3, 1000, 50, o)
	want := map[string]uint64{}
	for p := 0; p < 3; p++ {
		for i := 0; i < 1000; i++ {
			k, v := testRecord(p, i, 50)
			want[string(k)] += binary.LittleEndian.Uint64(v)
		}
	}
	sum := func(acc, v []byte) []byte {
		var s uint64
		if acc != nil {
			s = binary.LittleEndian.Uint64(acc)
		}
		return binary.LittleEndian.AppendUint64(acc[:0], s+binary.LittleEndian.Uint64(v))
	}
	got := map[string]uint64{}
	var grouped []string
	for r := 0; r < 3; r++ {
		agg, err := NewReader(mo, mo.outs, r, ReadOptions{}).Aggregate(context.Background(), sum)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range agg {
			got[k] = binary.LittleEndian.Uint64(v)
		}
		err = NewReader(mo, mo.outs, r, ReadOptions{}).Groups(context.Background(), func(k []byte, vs [][]byte) error {
			var s uint64
			for _, v := range vs {
				s += binary.LittleEndian.Uint64(v)
			}
			if s != want[string(k)] {
				return fmt.Errorf("group %q sums to %d, want %d", k, s, want[string(k)])
			}
			grouped = append(grouped, string(k))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys aggregated, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("key %s sums to %d, want %d", k, got[k], v)
		}
	}
	slices.Sort(grouped)
	if len(slices.Compact(grouped)) != len(want) {
		t.Fatalf("%d groups, want one per key (%d)", len(grouped), len(want))
	}
}

func TestServedOutputsAndLostBlocks(t *testing.T) {
	blocks, err := OpenLocalBlocks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(HTTPHandler(blocks))
	defer srv.Close()
	o := Options{Partitioner: Hash(2), Codec: Snappy}
	var outs []MapOutput
	for p := 0; p < 2; p++ {
		w, _ := NewWriter(o)
		for i := 0; i < 100; i++ {
			w.Add(testRecord(p, i, 1000))
		}
		id := fmt.Sprintf("job/map/p%d/a1/shuffle", p)
		idx, err := blocks.Write(id, w.Finish)
		if err != nil {
			t.Fatal(err)
		}
		idx.Server, idx.Block = srv.URL, id
		outs = append(outs, MapOutput{Stage: "map", Partition: p, Index: idx})
	}
	count := func(r int) (int, error) {
		n := 0
		err := NewReader(StoreFetcher{}, outs, r, ReadOptions{Backoff: time.Millisecond, Retries: 1}).
			Each(context.Background(), func(k, v []byte) error { n++; return nil })
		return n, err
	}
	a, err1 := count(0)
	b, err2 := count(1)
	if err1 != nil || err2 != nil || a+b != 200 {
		t.Fatalf("served over HTTP: %d+%d records (%v, %v), want 200", a, b, err1, err2)
	}

	blocks.Drop(outs[1].Index.Block)
	_, err = count(0)
	if stage, p, ok := Lost(err); !ok || stage != "map" || p != 1 {
		t.Fatalf("dropped block: %v, want a LostOutputError for map/p1", err)
	}
	srv.Close()
	_, err = count(1)
	if stage, _, ok := Lost(err); !ok || stage != "map" {
		t.Fatalf("server gone: %v, want a LostOutputError", err)
	}
}

// BenchmarkWriteRead partitions 100-byte records into 8 segments and reads
// them back, in memory: the codec's and the format's own cost.
func BenchmarkWriteRead(b *testing.B) {
	for _, codec := range []Codec{None, Snappy, Zstd} {
		b.Run(codec.String(), func(b *testing.B) {
			const n = 100_000
			mo := &memOutputs{data: map[int][]byte{}}
			o := Options{Partitioner: Hash(8), Codec: codec}
			b.SetBytes(n * 100)
			var key [8]byte
			value := bytes.Repeat([]byte("v"), 92)
			for i := 0; i < b.N; i++ {
				w, _ := NewWriter(o)
				for j := 0; j < n; j++ {
					binary.LittleEndian.PutUint64(key[:], uint64(j)*0x9e3779b97f4a7c15)
					w.Add(key[:], value)
				}
				var buf bytes.Buffer
				idx, err := w.Finish(&buf)
				if err != nil {
					b.Fatal(err)
				}
				idx.Data = "mem"
				mo.data[0] = buf.Bytes()
				mo.outs = []MapOutput{{Stage: "map", Index: idx}}
				for r := 0; r < 8; r++ {
					if err := NewReader(mo, mo.outs, r, ReadOptions{}).Each(context.Background(), func(k, v []byte) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
