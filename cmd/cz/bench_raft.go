package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/coordinator/raftbench"
	enginebench "github.com/celebrity-zones/cz/engine/bench"
)

func init() {
	var (
		o      raftbench.Options
		python string
		noDask bool
	)
	cmd := &cobra.Command{
		Use:   "raft",
		Short: "State changes committed per second through Raft with 3 coordinators on loopback, and cluster start-up, beside Dask",
		Long: `raft starts --nodes coordinators on loopback (real Raft TCP transport with
mutual TLS, raft-wal on disk, gRPC, gossip) and measures: the time until a
leader runs its engine; a job of --tasks trivial tasks run by --executors
remote executors over gRPC (state changes committed per second); and raw
batched applies by 8 concurrent proposers. Dask's LocalCluster runs the
same trivial tasks in the same run. Goals: >= 5,000 committed state
changes/s and a 3-node cluster ready in < 3 s.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir, err := os.MkdirTemp("", "cz-bench-raft-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			r, err := raftbench.Run(ctx, dir, o)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "measure\tvalue\t")
			fmt.Fprintf(w, "%d-node cluster ready (leader running its engine)\t%s\t\n", r.Nodes, r.Start.Round(time.Millisecond))
			fmt.Fprintf(w, "job: %d trivial tasks on %d remote executors\t%s\t\n", r.Tasks, max(o.Executors, 2), r.JobTime.Round(time.Millisecond))
			fmt.Fprintf(w, "job: committed state changes/s (%d changes)\t%.0f\t\n", r.Changes, r.ChangesSec)
			fmt.Fprintf(w, "job: tasks/s\t%.0f\t\n", r.TasksPerSec)
			fmt.Fprintf(w, "raw: committed state changes/s (8 proposers, %d per entry)\t%.0f\t\n", max(o.Batch, 100), r.RawPerSec)
			fmt.Fprintf(w, "raw: log entries/s\t%.0f\t\n", r.RawEntriesSec)
			w.Flush()
			fmt.Printf("\ngoal >= 5000 committed state changes/s: job %.0f, raw %.0f; goal 3-node start < 3s: %s\n",
				r.ChangesSec, r.RawPerSec, r.Start.Round(time.Millisecond))
			if noDask {
				return nil
			}
			d, err := enginebench.Dask(ctx, python, enginebench.Options{Tasks: r.Tasks, Executors: max(o.Executors, 2)})
			if err != nil {
				return fmt.Errorf("dask: %w (--no-dask skips it)", err)
			}
			fmt.Printf("dask LocalCluster (%d workers): start-up %s, %.0f tasks/s\n", max(o.Executors, 2), d.Start.Round(time.Millisecond), d.TasksPerSec)
			fmt.Printf("cz cluster/dask: %.1fx tasks/s, start-up %.1fx sooner\n", r.TasksPerSec/d.TasksPerSec, float64(d.Start)/float64(r.Start))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Nodes, "nodes", 3, "coordinators (1, 3 or 5)")
	f.IntVar(&o.Tasks, "tasks", 20000, "trivial tasks in the job")
	f.IntVar(&o.Executors, "executors", 2, "remote executors (and Dask workers)")
	f.IntVar(&o.Slots, "slots", 64, "CPU slots per executor")
	f.DurationVar(&o.Raw, "raw", 2*time.Second, "length of the raw apply phase")
	f.IntVar(&o.Batch, "batch", 100, "state changes per raw log entry")
	f.BoolVar(&o.Insecure, "insecure", false, "no mutual TLS")
	f.StringVar(&python, "python", "/usr/bin/python3", "Python with python3-distributed")
	f.BoolVar(&noDask, "no-dask", false, "skip Dask")
	bench.AddCommand(cmd)
}
