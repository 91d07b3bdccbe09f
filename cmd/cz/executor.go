package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/executor"
)

func init() {
	var (
		cfg                                    executor.Config
		seeds, coords, holds, storeURL, gossip string
		faults                                 string
		cpus, gpus                             int
		memoryMB                               int64
		drain                                  time.Duration
		metricsAddr                            string
	)
	cmd := &cobra.Command{
		Use:   "executor",
		Short: "Run an executor: join the cluster, keep a lease with the leader and run the tasks it assigns",
		Long: `executor joins the cluster through gossip (--seeds) or straight at
coordinators (--coordinators), advertises its CPU, GPU and memory slots
and runs the tasks the leader assigns with the operators built into this
binary. On SIGTERM (or SIGINT) it drains: it takes no new work, finishes
what runs within --drain-timeout and hands the rest back.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if storeURL == "" {
				return fmt.Errorf("--store is required (the engine store the coordinators use)")
			}
			b, err := openEngineStore(ctx, storeURL)
			if err != nil {
				return err
			}
			res := local.MachineResources(gpus)
			if cpus > 0 {
				res.CPU = cpus
			}
			if memoryMB > 0 {
				res.MemoryMB = memoryMB
			}
			cfg.Resources, cfg.Bucket, cfg.Holds = res, b, splitList(holds)
			cfg.Seeds, cfg.Coordinators, cfg.GossipBind = splitList(seeds), splitList(coords), gossip
			cfg.DrainTimeout, cfg.Logger = drain, slog.Default()
			// Tests only: record every AuthorizeCommit call (e2e commit history).
			cfg.CommitHistory = os.Getenv("CZ_COMMIT_HISTORY")
			if cfg.Spot && !cmd.Flags().Changed("spot-notice-url") {
				cfg.SpotNoticeURL = executor.DefaultSpotNoticeURL
			}
			if len(cfg.Seeds) == 0 && len(cfg.Coordinators) == 0 {
				return fmt.Errorf("give --seeds (gossip) or --coordinators (API addresses)")
			}
			if cfg.Faults, err = executor.ParseFaults(faults); err != nil {
				return fmt.Errorf("--faults (env CZ_FAULTS): %w", err)
			}
			if cfg.Faults != (executor.Faults{}) {
				slog.Warn("fault injection on", "faults", faults)
			}
			x, err := executor.New(cfg)
			if err != nil {
				return err
			}
			if metricsAddr != "" {
				reg := prometheus.NewRegistry()
				processCollectors(reg)
				reg.MustRegister(
					prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cz_executor_attempts_running", Help: "Task attempts running here."},
						func() float64 { return float64(x.Running()) }),
					prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cz_executor_attempts_finished_total", Help: "Task attempts that ended here."},
						func() float64 { return float64(x.Finished()) }))
				stop, err := serveMetrics(metricsAddr, reg)
				if err != nil {
					return err
				}
				defer stop()
			}
			slog.Info("executor up", "id", cfg.ID, "resources", res)
			return x.Run(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.ID, "id", "", "executor ID (unique in the cluster)")
	fl.StringVar(&metricsAddr, "metrics", "", "serve Prometheus metrics on this address's /metrics (such as 0.0.0.0:9100)")
	fl.StringVar(&seeds, "seeds", "", "gossip addresses of cluster members, comma-separated")
	fl.StringVar(&coords, "coordinators", "", "coordinator API addresses, comma-separated (besides gossip)")
	fl.StringVar(&gossip, "gossip", "0.0.0.0:7947", "memberlist address to listen on")
	fl.StringVar(&storeURL, "store", "", "engine store (directory or s3:// URL), the coordinators' --store")
	fl.IntVar(&cpus, "cpus", 0, "CPU slots (0: one per core)")
	fl.IntVar(&gpus, "gpus", 0, "GPU slots")
	fl.Int64Var(&memoryMB, "memory-mb", 0, "memory to offer, MB (0: the machine's)")
	fl.StringVar(&holds, "holds", "", "locality keys of inputs already here (such as ann-shard-3), comma-separated")
	fl.StringVar(&cfg.BlockListen, "blocks", "", "serve this executor's shuffle map outputs to other executors on this address (such as 0.0.0.0:7950)")
	fl.StringVar(&cfg.BlockAdvertise, "blocks-advertise", "", "address other executors dial for blocks (default: the --blocks listener's)")
	fl.StringVar(&cfg.BlockDir, "blocks-dir", "", "local directory of the served shuffle blocks (default: a temporary one)")
	fl.BoolVar(&cfg.Spot, "spot", false, "a spot instance: the shuffle also copies its map outputs to the store")
	fl.StringVar(&cfg.SpotNoticeURL, "spot-notice-url", "", "poll this URL and drain once it answers 200 (on EC2 spot: "+executor.DefaultSpotNoticeURL+"; default with --spot)")
	fl.DurationVar(&drain, "drain-timeout", 2*time.Minute, "how long a drain waits for running tasks before handing them back")
	fl.StringVar(&faults, "faults", os.Getenv("CZ_FAULTS"), "TESTS ONLY: inject network faults into the calls to the leader, such as report-delay=30ms,report-twice,hold-commit (env CZ_FAULTS)")
	fl.MarkHidden("faults")
	cmd.MarkFlagRequired("id")
	securityFlags(cmd, &cfg.Security, true)
	root.AddCommand(cmd)
}
