package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	enginebench "github.com/celebrity-zones/cz/engine/bench"
)

func init() {
	var (
		o      enginebench.Options
		python string
		noDask bool
	)
	cmd := &cobra.Command{
		Use:   "engine",
		Short: "Trivial-task throughput and first-task latency of the embedded engine, beside Dask",
		Long: `engine runs the same trivial tasks on the embedded engine and on a Dask
LocalCluster (Debian's python3-distributed; 'make bench-engine' installs it)
in this run, and prints both with their ratios. Goals: >= 20x Dask's tasks/s
and the first task done < 50 ms after submit.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir, err := os.MkdirTemp("", "cz-bench-engine-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cz, err := enginebench.Engine(ctx, dir, o)
			if err != nil {
				return err
			}
			rows := []enginebench.Result{cz}
			if !noDask {
				dask, err := enginebench.Dask(ctx, python, o)
				if err != nil {
					return err
				}
				rows = append(rows, dask)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "system\ttasks\ttasks/s\tfirst task\tstart-up\t")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%d\t%.0f\t%s\t%s\t\n", r.System, r.Tasks, r.TasksPerSec,
					r.FirstTask.Round(10*time.Microsecond), r.Start.Round(10*time.Microsecond))
			}
			w.Flush()
			if len(rows) == 2 {
				d := rows[1]
				fmt.Printf("\ncz/dask: %.1fx tasks/s (goal >= 20x), first task %.0fx sooner, start-up %.0fx sooner\n",
					cz.TasksPerSec/d.TasksPerSec, float64(d.FirstTask)/float64(cz.FirstTask), float64(d.Start)/float64(cz.Start))
				fmt.Printf("cz first task %s after submit (goal < 50ms)\n", cz.FirstTask.Round(10*time.Microsecond))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Tasks, "tasks", 20000, "trivial tasks per system")
	f.IntVar(&o.Executors, "executors", 2, "cz executors and Dask worker processes")
	f.IntVar(&o.Slots, "slots", 64, "CPU slots per cz executor")
	f.StringVar(&python, "python", "/usr/bin/python3", "Python with python3-distributed")
	f.BoolVar(&noDask, "no-dask", false, "skip Dask")
	bench.AddCommand(cmd)
}
