package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/web"
)

func init() {
	var addr, storeURL string
	var cluster clusterFlags
	cmd := &cobra.Command{
		Use:   "status [JOB]",
		Short: "Show jobs, or one job's stages, from a running engine or from the event logs in a store",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var src web.Source
			if storeURL != "" {
				b, err := openEngineStore(ctx, storeURL)
				if err != nil {
					return err
				}
				src = web.History(b)
			}
			if cluster.coordinators != "" {
				cs, err := clusterSource(&cluster)
				if err != nil {
					return err
				}
				defer cs.Close()
				src = cs
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			defer w.Flush()
			if len(args) == 1 {
				var j *engine.Job
				var err error
				if src != nil {
					j, err = src.Job(ctx, args[0])
				} else {
					j, err = web.FetchJob(ctx, addr, args[0])
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "job %s (%s): %s\n", j.ID, j.Spec.Name, j.State)
				if j.Error != "" {
					fmt.Fprintf(w, "error: %s\n", j.Error)
				}
				fmt.Fprintln(w, "STAGE\tOPERATOR\tSTATE\tCOMMITTED\tTASKS")
				for _, st := range j.Stages {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\n", st.Name, j.Spec.Stage(st.Name).Operator, st.State, st.Done, len(st.Tasks))
				}
				if ps := web.Problems(j); len(ps) > 0 {
					fmt.Fprintf(w, "\ninput problems (skipped; the rest of the job went on):\n")
					for _, p := range ps {
						fmt.Fprintf(w, "  %s/p%d: %s\n", p.Stage, p.Partition, p.Text)
					}
				}
				return nil
			}
			var rows []web.JobSummary
			if src != nil {
				jobs, err := src.Jobs(ctx)
				if err != nil {
					return err
				}
				for _, j := range jobs {
					rows = append(rows, web.Summarize(j))
				}
			} else {
				var err error
				if rows, err = web.FetchJobs(ctx, addr); err != nil {
					return err
				}
			}
			fmt.Fprintln(w, "JOB\tNAME\tSTATE\tTASKS\tCOMMITTED\tRUNNING\tFAILED\tSUBMITTED\tTOOK")
			for _, r := range rows {
				took := ""
				if !r.Finished.IsZero() {
					took = r.Finished.Sub(r.Submitted).Round(time.Millisecond).String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.Name, r.State, r.Tasks,
					r.Counts["committed"], r.Counts["running"], r.Counts["failed"], r.Submitted.UTC().Format(time.DateTime), took)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "http://127.0.0.1:8080", "status page of a running engine")
	cmd.Flags().StringVar(&storeURL, "store", "", "read the event logs in this store instead (directory or URL)")
	cluster.add(cmd)
	root.AddCommand(cmd)
}
