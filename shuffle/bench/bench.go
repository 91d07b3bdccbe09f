// Package bench measures the shuffle: key/value records from map tasks to
// reduce tasks on the embedded engine with in-process executors, beside
// Dask's task shuffle (Debian's python3-distributed) and a plain file copy
// on the same machine in the same run. Figures are reported, never
// asserted in tests.
package bench

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/shuffle"
	"github.com/celebrity-zones/cz/store"
)

// Options size the runs.
type Options struct {
	Bytes      int64 // key+value bytes shuffled (default 1 GiB)
	Maps       int   // map tasks (default 16)
	Partitions int   // reduce partitions (default 8)
	Executors  int   // in-process executors, and Dask worker processes (default 2)
	Slots      int   // CPU slots per executor (default 2)
	Codec      shuffle.Codec
	Sort       bool
	// MemoryBytes is each map task's buffer before it spills (default 128 MiB).
	MemoryBytes int64
}

func (o *Options) defaults() {
	if o.Bytes == 0 {
		o.Bytes = 1 << 30
	}
	if o.Maps == 0 {
		o.Maps = 16
	}
	if o.Partitions == 0 {
		o.Partitions = 8
	}
	if o.Executors == 0 {
		o.Executors = 2
	}
	if o.Slots == 0 {
		o.Slots = 2
	}
	if o.MemoryBytes == 0 {
		o.MemoryBytes = 128 << 20
	}
}

// Record layout: an 8-byte key and a 92-byte value, 100 bytes a record.
const (
	keySize   = 8
	valueSize = 92
	recSize   = keySize + valueSize
)

// Result is one system's figure.
type Result struct {
	System  string
	Bytes   int64
	Seconds float64
	// MapSeconds and ReduceSeconds span each stage's attempts (cz only).
	MapSeconds, ReduceSeconds float64
	Note                      string
}

// MiBps is the throughput.
func (r Result) MiBps() float64 { return float64(r.Bytes) / (1 << 20) / r.Seconds }

func init() {
	engine.Register("shufflebench.map", mapOp)
	engine.Register("shufflebench.reduce", reduceOp)
}

// xorshift fills records cheaply: generating data is not what we measure.
type xorshift uint64

func (x *xorshift) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

func (x *xorshift) fill(b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], x.next())
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(x.next())
	}
}

func intParam(t *engine.Task, name string) int64 {
	v, _ := strconv.ParseInt(t.Param(name), 10, 64)
	return v
}

func mapOp(ctx context.Context, t *engine.Task) error {
	codec, err := shuffle.ParseCodec(t.Param("codec"))
	if err != nil {
		return engine.Fatal(err)
	}
	place, err := shuffle.ParsePlacement(t.Param("placement"))
	if err != nil {
		return engine.Fatal(err)
	}
	w, err := shuffle.NewWriter(shuffle.Options{Partitioner: shuffle.Hash(int(intParam(t, "reducers"))),
		Sort: t.Param("sort") == "true", Codec: codec, MemoryBytes: intParam(t, "memory")})
	if err != nil {
		return engine.Fatal(err)
	}
	records := intParam(t, "records")
	rng := xorshift(uint64(t.Partition)*0x9e3779b97f4a7c15 + 1)
	// Random keys; values are random windows of a random pool, so that
	// making data costs little next to moving it.
	pool := make([]byte, 64<<10)
	rng.fill(pool)
	var key [keySize]byte
	for i := int64(0); i < records; i++ {
		r := rng.next()
		binary.LittleEndian.PutUint64(key[:], r)
		off := (r >> 40) % uint64(len(pool)-valueSize)
		if err := w.Add(key[:], pool[off:off+valueSize]); err != nil {
			w.Discard()
			return err
		}
	}
	_, err = shuffle.WriteTask(ctx, t, "shuffle", w, place)
	return err
}

// reduceOp reads its partition and writes its record count and a key sum.
func reduceOp(ctx context.Context, t *engine.Task) error {
	r, err := shuffle.NewTaskReader(ctx, t, "map", "shuffle", shuffle.ReadOptions{})
	if err != nil {
		return err
	}
	var n, sum uint64
	if err := r.Each(ctx, func(k, v []byte) error {
		n++
		sum += binary.LittleEndian.Uint64(k)
		return nil
	}); err != nil {
		return err
	}
	return t.Put(ctx, "count", fmt.Appendf(nil, "%d %d", n, sum))
}

// Cz runs the shuffle job on the embedded engine with o.Executors
// in-process executors over a directory store in dir, with the data placed
// durably (in that store) or served (kept in dir/blocks and fetched over
// HTTP on loopback, or, with inProcess, straight from the executor's
// BlockServer in this process, as executors sharing a machine could).
func Cz(ctx context.Context, dir string, place shuffle.Placement, inProcess bool, o Options) (Result, error) {
	o.defaults()
	name := map[shuffle.Placement]string{shuffle.Durable: "durable", shuffle.Served: "served", shuffle.ServedDurable: "served+durable"}[place]
	res := Result{System: "cz " + name, Note: fmt.Sprintf("%d maps -> %d reducers, %d executors x %d slots, codec %s", o.Maps, o.Partitions, o.Executors, o.Slots, o.Codec)}
	b, err := store.OpenDir(filepath.Join(dir, "store"))
	if err != nil {
		return res, err
	}
	if place != shuffle.Durable {
		blocks, err := shuffle.OpenLocalBlocks(filepath.Join(dir, "blocks"))
		if err != nil {
			return res, err
		}
		if inProcess {
			addr := "inproc://" + dir
			shuffle.RegisterServer(addr, blocks)
			defer shuffle.RegisterServer(addr, nil)
			shuffle.SetExecutorBlocks(blocks, addr, false)
			res.System += " in-process"
			res.Note += ", blocks read from the executor's disk in process"
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return res, err
			}
			srv := &http.Server{Handler: shuffle.HTTPHandler(blocks)}
			go srv.Serve(l)
			defer srv.Close()
			shuffle.SetExecutorBlocks(blocks, "http://"+l.Addr().String(), false)
			res.System += " HTTP"
			res.Note += ", blocks over HTTP on loopback"
		}
		defer shuffle.SetExecutorBlocks(nil, "", false)
	} else {
		res.Note += ", blocks in a directory store (fsync, MD5 ETags)"
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	slots := make([]engine.Resources, o.Executors)
	for i := range slots {
		slots[i] = engine.Resources{CPU: o.Slots, MemoryMB: 1 << 20}
	}
	m, err := local.Start(b, quiet, slots...)
	if err != nil {
		return res, err
	}
	defer m.Stop()
	records := o.Bytes / recSize / int64(o.Maps)
	// Start without earlier runs' dirty pages being written back meanwhile.
	syscall.Sync()
	spec := engine.JobSpec{Version: engine.SpecVersion, Name: "bench-shuffle", Params: map[string]string{
		"records": fmt.Sprint(records), "reducers": fmt.Sprint(o.Partitions), "codec": o.Codec.String(),
		"placement": name, "sort": fmt.Sprint(o.Sort), "memory": fmt.Sprint(o.MemoryBytes),
	}, Stages: []engine.StageSpec{
		{Name: "map", Operator: "shufflebench.map", Partitions: o.Maps, Resources: engine.Resources{CPU: 1}},
		{Name: "reduce", Operator: "shufflebench.reduce", Partitions: o.Partitions, Upstream: []string{"map"}, Resources: engine.Resources{CPU: 1}},
	}}
	start := time.Now()
	j, err := m.Run(ctx, spec)
	if err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	if j.State != engine.JobSucceeded {
		return res, fmt.Errorf("shuffle job %s: %s", j.State, j.Error)
	}
	if os.Getenv("CZ_SHUFFLE_DEBUG") != "" {
		for _, st := range j.Stages {
			for _, t := range st.Tasks {
				a := t.Attempts[len(t.Attempts)-1]
				fmt.Printf("%s p%d %s assigned %v started %v finished %v\n", st.Name, t.Partition, a.Executor, a.Assigned.Sub(start), a.Started.Sub(start), a.Finished.Sub(start))
			}
		}
	}
	res.MapSeconds, res.ReduceSeconds = span(j.Stage("map")), span(j.Stage("reduce"))
	var total uint64
	for _, task := range j.Stage("reduce").Tasks {
		data, err := store.ReadAll(ctx, b, task.Outputs[0].Key)
		if err != nil {
			return res, err
		}
		var n, sum uint64
		fmt.Sscan(string(data), &n, &sum)
		total += n
	}
	if want := uint64(records) * uint64(o.Maps); total != want {
		return res, fmt.Errorf("reducers read %d records, the maps wrote %d", total, want)
	}
	res.Bytes = int64(total) * recSize
	return res, nil
}

//go:embed dask_shuffle.py
var daskScript string

// Dask runs Dask's task shuffle of about the same bytes on a LocalCluster
// of o.Executors worker processes with python (Debian's /usr/bin/python3
// with python3-distributed and python3-pandas). Mode "bytes" shuffles the
// same records as cz (bytes keys and values, object columns); "numeric"
// shuffles fixed-width numeric columns of the same row size, Dask's best
// case.
func Dask(ctx context.Context, python, mode string, o Options) (Result, error) {
	o.defaults()
	if mode != "bytes" && mode != "numeric" {
		return Result{}, fmt.Errorf("dask mode %q: want bytes or numeric", mode)
	}
	cmd := exec.CommandContext(ctx, python, "-c", daskScript, fmt.Sprint(o.Bytes), fmt.Sprint(o.Maps),
		fmt.Sprint(o.Partitions), fmt.Sprint(o.Executors), mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("dask shuffle (%s; are python3-distributed and python3-pandas installed? `make bench-shuffle` installs them): %w", python, err)
	}
	var raw struct {
		Bytes, Rows, WantRows int64
		Seconds               float64
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return Result{}, fmt.Errorf("dask shuffle output %q: %w", out, err)
	}
	if raw.Rows != raw.WantRows {
		return Result{}, fmt.Errorf("dask shuffle kept %d of %d rows", raw.Rows, raw.WantRows)
	}
	return Result{System: "dask " + mode, Bytes: raw.Bytes, Seconds: raw.Seconds,
		Note: fmt.Sprintf("df.shuffle(shuffle=\"tasks\"), LocalCluster %d processes x 1 thread, %d -> %d partitions", o.Executors, o.Maps, o.Partitions)}, nil
}

// FileCopy times cp(1) of a file of o.Bytes in dir (written first, so
// both copies start from the page cache like the shuffle's data).
func FileCopy(ctx context.Context, dir string, o Options) (Result, error) {
	o.defaults()
	src, dst := filepath.Join(dir, "copy-src"), filepath.Join(dir, "copy-dst")
	defer os.Remove(src)
	defer os.Remove(dst)
	f, err := os.Create(src)
	if err != nil {
		return Result{}, err
	}
	buf := make([]byte, 1<<20)
	rng := xorshift(7)
	for n := int64(0); n < o.Bytes; n += int64(len(buf)) {
		rng.fill(buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), o.Bytes-n)]); err != nil {
			f.Close()
			return Result{}, err
		}
	}
	if err := f.Close(); err != nil {
		return Result{}, err
	}
	syscall.Sync() // start without earlier runs' dirty pages, as Cz does
	start := time.Now()
	out, err := exec.CommandContext(ctx, "cp", src, dst).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("cp: %v: %s", err, out)
	}
	r := Result{System: "cp", Bytes: o.Bytes, Seconds: time.Since(start).Seconds(), Note: "cp of one file, same disk"}
	if st, err := os.Stat(dst); err != nil || st.Size() != o.Bytes {
		return r, errors.New("cp: the copy has the wrong size")
	}
	return r, nil
}

// span is the time from a stage's first attempt start to its last finish.
func span(st *engine.Stage) float64 {
	var first, last time.Time
	for _, t := range st.Tasks {
		for _, a := range t.Attempts {
			if first.IsZero() || a.Started.Before(first) {
				first = a.Started
			}
			if a.Finished.After(last) {
				last = a.Finished
			}
		}
	}
	return last.Sub(first).Seconds()
}

// Median returns the run with the median throughput, its Note saying how
// many runs there were and their range.
func Median(runs []Result) Result {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b Result) int { return cmp.Compare(a.MiBps(), b.MiBps()) })
	m := sorted[len(sorted)/2]
	if len(runs) > 1 {
		m.Note = fmt.Sprintf("median of %d runs (%.0f-%.0f MiB/s); %s", len(runs), sorted[0].MiBps(), sorted[len(sorted)-1].MiBps(), m.Note)
	}
	return m
}
