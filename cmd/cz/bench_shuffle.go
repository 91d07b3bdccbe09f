package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/shuffle"
	shufflebench "github.com/celebrity-zones/cz/shuffle/bench"
)

func init() {
	var (
		o         shufflebench.Options
		codec     string
		places    []string
		python    string
		daskModes []string
		repeat    int
		noDask    bool
		noCopy    bool
		sizeMiB   int64
		memoryMiB int64
	)
	cmd := &cobra.Command{
		Use:   "shuffle",
		Short: "Shuffle throughput of the embedded engine, beside Dask's task shuffle and cp",
		Long: `shuffle moves key/value records (100 bytes each) from map tasks into
reduce partitions on the embedded engine with in-process executors, with
the blocks placed durably (in a directory store) and served (kept on the
executor's disk and fetched over HTTP on loopback). In the same run it times
Dask's task shuffle of the same size (Debian's python3-distributed and
python3-pandas; 'make bench-shuffle' installs them) and a plain cp of a file
of that size. Goals: >= 10x Dask and within 3x of cp.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var err error
			if o.Codec, err = shuffle.ParseCodec(codec); err != nil {
				return err
			}
			if repeat < 1 {
				return fmt.Errorf("--repeat %d: want >= 1", repeat)
			}
			o.Bytes, o.MemoryBytes = sizeMiB<<20, memoryMiB<<20
			dir, err := os.MkdirTemp("", "cz-bench-shuffle-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			type placement struct {
				name      string
				place     shuffle.Placement
				inProcess bool
			}
			var ps []placement
			for _, p := range places {
				place, err := shuffle.ParsePlacement(strings.TrimSuffix(p, "-inproc"))
				if err != nil {
					return err
				}
				ps = append(ps, placement{p, place, strings.HasSuffix(p, "-inproc")})
			}
			// Each round runs cp and every placement once, so that all see
			// the same load on a shared machine; medians are shown.
			czRuns := make([][]shufflebench.Result, len(ps))
			var cpRuns []shufflebench.Result
			for range repeat {
				if !noCopy {
					r, err := shufflebench.FileCopy(ctx, dir, o)
					if err != nil {
						return err
					}
					cpRuns = append(cpRuns, r)
				}
				for i, p := range ps {
					sub, err := os.MkdirTemp(dir, "cz-")
					if err != nil {
						return err
					}
					r, err := shufflebench.Cz(ctx, sub, p.place, p.inProcess, o)
					os.RemoveAll(sub)
					if err != nil {
						return fmt.Errorf("cz %s: %w", p.name, err)
					}
					czRuns[i] = append(czRuns[i], r)
				}
			}
			var rows []shufflebench.Result
			for _, runs := range czRuns {
				rows = append(rows, shufflebench.Median(runs))
			}
			var dask, cp *shufflebench.Result
			if !noDask {
				for _, mode := range daskModes {
					r, err := shufflebench.Dask(ctx, python, mode, o)
					if err != nil {
						return err
					}
					rows = append(rows, r)
					if dask == nil {
						dask = &r
					}
				}
			}
			if !noCopy {
				r := shufflebench.Median(cpRuns)
				rows, cp = append(rows, r), &r
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "system\tMiB\tseconds\tmap+reduce s\tMiB/s\tvs dask\tvs cp\tsetup")
			for _, r := range rows {
				vd, vc := "", ""
				if dask != nil {
					vd = fmt.Sprintf("%.1fx", r.MiBps()/dask.MiBps())
				}
				if cp != nil {
					vc = fmt.Sprintf("%.2fx", r.MiBps()/cp.MiBps())
				}
				stages := ""
				if r.MapSeconds > 0 {
					stages = fmt.Sprintf("%.2f+%.2f", r.MapSeconds, r.ReduceSeconds)
				}
				fmt.Fprintf(w, "%s\t%.0f\t%.2f\t%s\t%.0f\t%s\t%s\t%s\n", r.System, float64(r.Bytes)/(1<<20), r.Seconds, stages, r.MiBps(), vd, vc, r.Note)
			}
			w.Flush()
			if dask != nil {
				fmt.Printf("\nvs dask: against %q, the first Dask mode run\n", dask.System)
			}
			fmt.Println("goals: cz >= 10x dask; cz within 3x of cp (vs cp >= 0.33x)")
			return nil
		},
	}
	f := cmd.Flags()
	f.Int64Var(&sizeMiB, "mib", 1024, "MiB of key/value records to shuffle")
	f.IntVar(&o.Maps, "maps", 16, "map tasks (and Dask input partitions)")
	f.IntVar(&o.Partitions, "partitions", 8, "reduce partitions")
	f.IntVar(&o.Executors, "executors", 2, "in-process executors, and Dask worker processes")
	f.IntVar(&o.Slots, "slots", 2, "CPU slots per executor")
	f.StringVar(&codec, "codec", "none", "block codec: none, snappy or zstd")
	f.BoolVar(&o.Sort, "sort", false, "sort each block by key on the map side")
	f.Int64Var(&memoryMiB, "memory-mib", 128, "map-side buffer per task before spilling")
	f.StringSliceVar(&places, "placement", []string{"served", "served-inproc", "durable"},
		"cz block placements to run: served (HTTP on loopback), served-inproc (fetched in process), durable, served+durable")
	f.StringVar(&python, "python", "/usr/bin/python3", "Python with python3-distributed and python3-pandas")
	f.StringSliceVar(&daskModes, "dask", []string{"bytes", "numeric"}, "Dask runs: bytes (the same key/value records, object columns), numeric (fixed-width columns, Dask's best case)")
	f.IntVar(&repeat, "repeat", 3, "runs of each cz placement and of cp; the median is shown (Dask runs once)")
	f.BoolVar(&noDask, "no-dask", false, "skip Dask")
	f.BoolVar(&noCopy, "no-copy", false, "skip the cp baseline")
	bench.AddCommand(cmd)
}
