package annbench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/celebrity-zones/cz/ann"
)

// Peer is an external index measured on the same files in the same run.
// It is started as Command... DIR TIME_QUERIES Args... and prints one
// tab-separated row per setting:
//
//	name recall@1 recall@10 q/s-1-thread q/s-2-threads build-seconds memory-MiB
//
// DIR holds base.f32 and queries.f32 (uint32 n, uint32 dim, then n*dim
// float32, little-endian, L2-normalised) and truth.u64 (uint32 n, uint32
// k, then n*k uint64 ids of the exact top k; ids are row numbers).
type Peer struct {
	Name    string
	Command []string
}

func writePeerFiles(dir string, items []ann.Item, queries [][]float32, truth [][]ann.Hit) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, it := range items {
		if it.ID != uint64(i) {
			return fmt.Errorf("annbench: peers need item ids 0..n-1; item %d has id %d", i, it.ID)
		}
	}
	vecs := func(name string, n int, at func(i int) []float32) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		d := len(at(0))
		binary.Write(w, binary.LittleEndian, [2]uint32{uint32(n), uint32(d)})
		buf := make([]byte, 4*d)
		for i := range n {
			v := at(i)
			var s float64
			for _, x := range v {
				s += float64(x) * float64(x)
			}
			inv := 1 / math.Sqrt(math.Max(s, 1e-30))
			for j, x := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(float64(x)*inv)))
			}
			w.Write(buf)
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := vecs("base.f32", len(items), func(i int) []float32 { return items[i].Vector }); err != nil {
		return err
	}
	if err := vecs("queries.f32", len(queries), func(i int) []float32 { return queries[i] }); err != nil {
		return err
	}
	var tb bytes.Buffer
	k := len(truth[0])
	binary.Write(&tb, binary.LittleEndian, [2]uint32{uint32(len(truth)), uint32(k)})
	for _, hs := range truth {
		if len(hs) != k {
			return fmt.Errorf("annbench: uneven ground truth")
		}
		for _, h := range hs {
			binary.Write(&tb, binary.LittleEndian, h.ID)
		}
	}
	return os.WriteFile(filepath.Join(dir, "truth.u64"), tb.Bytes(), 0o644)
}

func runPeer(p Peer, dir string, timeQueries int, log io.Writer) ([]Row, error) {
	args := append([]string{}, p.Command[1:]...)
	args = append([]string{dir, strconv.Itoa(timeQueries)}, args...)
	cmd := exec.Command(p.Command[0], args...)
	cmd.Stderr = log
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("peer %s (%s): %w", p.Name, strings.Join(p.Command, " "), err)
	}
	var rows []Row
	for ln, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			return nil, fmt.Errorf("peer %s: output line %d: %d fields, want 7: %q", p.Name, ln+1, len(f), line)
		}
		var v [6]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(f[i+1], 64); err != nil {
				return nil, fmt.Errorf("peer %s: output line %d field %d: %w", p.Name, ln+1, i+2, err)
			}
		}
		rows = append(rows, Row{Name: f[0], Recall1: v[0], Recall10: v[1], IdentityRecall10: -1,
			QPS: map[int]float64{1: v[2], 2: v[3]}, BuildSeconds: v[4], MemMiB: v[5]})
		fmt.Fprintf(log, "peer: %s\n", line)
	}
	return rows, nil
}
