package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/engine/progress"
	_ "github.com/celebrity-zones/cz/engine/testops" // test.* operators: the example spec and the benchmark use them
	"github.com/celebrity-zones/cz/engine/web"
	"github.com/celebrity-zones/cz/store"
)

func init() {
	var (
		storeURL, listen string
		executors, gpus  int
		memoryMB         int64
		cpus             int
		stay             bool
	)
	cmd := &cobra.Command{
		Use:   "local JOBSPEC.json",
		Short: "Run a job on an in-process engine, with its status page",
		Long: `local validates the job spec, starts an engine with in-process executors
over --store, serves the status page on --listen and runs the job,
showing progress bars on a terminal and log lines otherwise. Outputs,
manifests and the job's event log go to the store; 'cz status --store'
reads them after the engine is gone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			spec, err := engine.LoadSpec(args[0])
			if err != nil {
				return err
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
			// Split the machine between the executors.
			per := engine.Resources{CPU: max(res.CPU/executors, 1), GPU: res.GPU / executors, MemoryMB: res.MemoryMB / int64(executors)}
			slots := make([]engine.Resources, executors)
			for i := range slots {
				slots[i] = per
			}
			m, err := local.Start(b, slog.Default(), slots...)
			if err != nil {
				return err
			}
			defer m.Stop()
			if listen != "" {
				ln, err := net.Listen("tcp", listen)
				if err != nil {
					return fmt.Errorf("--listen: %w", err)
				}
				srv := &http.Server{Handler: web.Handler(web.Live(m.Engine), m.Engine.Metrics().Registry, slog.Default())}
				go srv.Serve(ln)
				defer srv.Close()
				slog.Info("status page", "url", "http://"+ln.Addr().String()+"/")
			}
			id, err := m.Engine.Submit(spec, "")
			if err != nil {
				return err
			}
			slog.Info("job submitted", "job", id, "store", b.URL())
			followCtx, stopFollow := context.WithCancel(ctx)
			followed := make(chan struct{})
			go func() {
				progress.Follow(followCtx, func() *engine.Job { return m.Engine.Job(id) }, os.Stderr, progress.IsTerminal(os.Stderr), time.Second, slog.Default())
				close(followed)
			}()
			j, err := m.Engine.Wait(ctx, id)
			<-followed
			stopFollow()
			if err != nil {
				return err
			}
			fmt.Printf("job %s %s in %s\n", j.ID, j.State, j.Finished.Sub(j.Submitted).Round(time.Millisecond))
			if j.State == engine.JobSucceeded {
				fmt.Printf("manifest: %s\n", store.Join(b.URL(), engine.ManifestKey(j.ID)))
			}
			if stay && listen != "" {
				slog.Info("serving the status page until interrupted")
				<-ctx.Done()
			}
			if j.State != engine.JobSucceeded {
				return errors.New("job " + j.State.String() + ": " + j.Error)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&storeURL, "store", "cz-local", "object store: a directory, file:///abs/path or s3://bucket/prefix")
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "address of the status page (empty: none)")
	f.IntVar(&executors, "executors", 1, "in-process executors sharing the machine")
	f.IntVar(&cpus, "cpu", 0, "CPU slots in all (default: the machine's CPUs)")
	f.IntVar(&gpus, "gpu", 0, "GPU slots in all")
	f.Int64Var(&memoryMB, "memory-mb", 0, "memory in all, in MB (default: the machine's)")
	f.BoolVar(&stay, "stay", false, "keep serving the status page after the job ends")
	root.AddCommand(cmd)
}

// openEngineStore opens a store URL, or a plain directory path.
func openEngineStore(ctx context.Context, s string) (store.Bucket, error) {
	if strings.Contains(s, "://") {
		return store.Open(ctx, s)
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return nil, err
	}
	return store.OpenDir(abs)
}
