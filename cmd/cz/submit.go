package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	czpb "github.com/celebrity-zones/cz/proto"
)

// clusterFlags are the flags of the commands that talk to a cluster.
type clusterFlags struct {
	coordinators string
	sec          coordinator.Security
}

func (f *clusterFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.coordinators, "coordinator", os.Getenv("CZ_COORDINATOR"), "coordinator API addresses, comma-separated (env CZ_COORDINATOR); any member answers")
	securityFlags(cmd, &f.sec, true)
}

func (f *clusterFlags) dial() (*coordinator.Client, error) {
	addrs := splitList(f.coordinators)
	if len(addrs) == 0 {
		return nil, fmt.Errorf("--coordinator is required")
	}
	if !f.sec.Insecure && f.sec.CAFile == "" {
		return nil, fmt.Errorf("--ca is required to check the coordinators' certificate (or --insecure)")
	}
	return coordinator.Dial(addrs, f.sec)
}

func init() {
	submit := &cobra.Command{Use: "submit", Short: "Submit a job to a cluster"}
	var (
		cf             clusterFlags
		dir, filter    string
		buckets        layout.Config
		cfg            jobs.Config
		key, date, bat string
		wait           bool
	)
	addFlags := func(cmd *cobra.Command, runner bool) {
		cf.add(cmd)
		cmd.Flags().StringVar(&key, "idempotency-key", "", "idempotency key: a repeated submit with it returns the first job (an event's ID, say)")
		cmd.Flags().BoolVar(&wait, "wait", false, "follow the job until it ends; exit non-zero unless it succeeds")
		if !runner {
			return
		}
		cmd.Flags().StringVar(&dir, "dir", "", "local directory holding the three buckets")
		addBucketFlags(cmd, &buckets)
		cmd.Flags().StringVar(&filter, "filter", "", "candidate filter rules, a JSON file")
		cmd.Flags().IntVar(&cfg.Partitions, "partitions", 4, "inference tasks per run")
		cmd.Flags().IntVar(&cfg.Face.Threads, "ort-threads", 0, "ONNX Runtime threads per session (0: its default)")
		cmd.Flags().StringVar(&cfg.Face.Provider, "provider", "cpu", "ONNX Runtime execution provider: cpu or cuda")
		cmd.Flags().Float64Var(&cfg.Face.FPS, "fps", 1, "video frames sampled per second")
	}
	config := func() (jobs.Config, error) {
		c := cfg
		b, err := bucketConfig(dir, buckets)
		if err != nil {
			return c, err
		}
		c.Buckets = b
		if filter != "" {
			data, err := os.ReadFile(filter)
			if err != nil {
				return c, err
			}
			if c.Filter, err = jobs.ParseFilter(filter, data); err != nil {
				return c, err
			}
		}
		return c, nil
	}
	send := func(ctx context.Context, spec engine.JobSpec) error {
		if err := spec.Validate(); err != nil {
			return err
		}
		cl, err := cf.dial()
		if err != nil {
			return err
		}
		defer cl.Close()
		id, err := cl.Submit(ctx, spec, key)
		if err != nil {
			return err
		}
		fmt.Println(id)
		if !wait {
			return nil
		}
		last := ""
		j, err := cl.Wait(ctx, id, func(s *czpb.JobSummary) {
			line := fmt.Sprintf("%s: %d of %d tasks committed, %d running, %d failed", s.State, s.Committed, s.Tasks, s.Running, s.Failed)
			if line != last {
				slog.Info(line, "job", s.Id)
				last = line
			}
		})
		if err != nil {
			return err
		}
		if j.State != engine.JobSucceeded {
			return fmt.Errorf("job %s %s: %s", j.ID, j.State, j.Error)
		}
		fmt.Printf("job %s succeeded in %s\n", j.ID, j.Finished.Sub(j.Submitted).Round(time.Millisecond))
		return nil
	}
	daily := &cobra.Command{
		Use:   "daily",
		Short: "Submit the Daily Runner for one day",
		RunE: func(cmd *cobra.Command, args []string) error {
			day, err := contracts.ParseDate(date)
			if err != nil {
				return fmt.Errorf("--date: %w", err)
			}
			c, err := config()
			if err != nil {
				return err
			}
			return send(cmd.Context(), jobs.DailySpec(day, c))
		},
	}
	addFlags(daily, true)
	daily.Flags().StringVar(&date, "date", time.Now().UTC().AddDate(0, 0, -1).Format(contracts.DateLayout), "the day (yyyy-mm-dd); default yesterday (UTC)")
	newBatch := &cobra.Command{
		Use:   "batch",
		Short: "Submit the New Celebrity Zone Batch Runner for one upload",
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := contracts.ParseBatchID(bat)
			if err != nil {
				return fmt.Errorf("--batch: %w", err)
			}
			c, err := config()
			if err != nil {
				return err
			}
			return send(cmd.Context(), jobs.BatchSpec(b, c))
		},
	}
	addFlags(newBatch, true)
	newBatch.Flags().StringVar(&bat, "batch", "", "the upload, {yyyy-mm-dd}@{n}")
	newBatch.MarkFlagRequired("batch")
	specCmd := &cobra.Command{
		Use:   "spec JOBSPEC.json",
		Short: "Submit a job spec file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := engine.LoadSpec(args[0])
			if err != nil {
				return err
			}
			return send(cmd.Context(), spec)
		},
	}
	addFlags(specCmd, false)
	submit.AddCommand(daily, newBatch, specCmd)
	root.AddCommand(submit)

	var ccf clusterFlags
	var reason string
	cancel := &cobra.Command{
		Use:   "cancel JOB",
		Short: "Cancel a job on a cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := ccf.dial()
			if err != nil {
				return err
			}
			defer cl.Close()
			return cl.Cancel(cmd.Context(), args[0], reason)
		},
	}
	ccf.add(cancel)
	cancel.Flags().StringVar(&reason, "reason", "", "why (shown on the status page)")
	root.AddCommand(cancel)
}

// clusterSrc shows a cluster's jobs (for cz status --coordinator).
type clusterSrc struct{ *coordinator.Client }

func clusterSource(f *clusterFlags) (clusterSrc, error) {
	cl, err := f.dial()
	return clusterSrc{cl}, err
}

func (c clusterSrc) Jobs(ctx context.Context) ([]*engine.Job, error) {
	sums, err := c.Client.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	var out []*engine.Job
	for _, s := range sums {
		j, err := c.Client.Job(ctx, s.Id)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

func (c clusterSrc) Job(ctx context.Context, id string) (*engine.Job, error) {
	return c.Client.Job(ctx, id)
}

func (c clusterSrc) Executors(ctx context.Context) ([]*engine.ExecutorStatus, error) { return nil, nil }
