package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/web"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/notify"
	"github.com/celebrity-zones/cz/store"
)

// runFlags are the flags every command that runs or shows the runners
// shares: where the buckets and the engine's work are, and how to run.
type runFlags struct {
	dir, work, listen, filter string
	buckets                   layout.Config
	cfg                       jobs.Config
	notify                    notifyFlags
	slots                     int
}

// notifyFlags are the job-notification flags `cz run` and `cz
// coordinator` share: a Google Chat webhook and SMTP mail.
type notifyFlags struct {
	cfg    notify.Config
	mailTo string
}

func (f *notifyFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.cfg.GChatWebhook, "gchat-webhook", os.Getenv("CZ_GCHAT_WEBHOOK"), "Google Chat webhook for job notifications (env CZ_GCHAT_WEBHOOK)")
	fl.StringVar(&f.cfg.SMTPAddr, "smtp", os.Getenv("CZ_SMTP_ADDR"), "SMTP relay host:port for job mails (env CZ_SMTP_ADDR; CZ_SMTP_USER/CZ_SMTP_PASSWORD authenticate)")
	fl.StringVar(&f.cfg.From, "mail-from", "cz@localhost", "sender of job mails")
	fl.StringVar(&f.mailTo, "mail-to", os.Getenv("CZ_MAIL_TO"), "comma-separated recipients of job mails (env CZ_MAIL_TO)")
}

// notifier returns the notifier the flags describe, or nil when they name
// no channel.
func (f *notifyFlags) notifier() (*notify.Notifier, error) {
	c := f.cfg
	c.To = splitList(f.mailTo)
	if c.SMTPAddr != "" && len(c.To) == 0 {
		return nil, fmt.Errorf("--smtp %s: job mails need recipients (--mail-to or CZ_MAIL_TO)", c.SMTPAddr)
	}
	if c.GChatWebhook == "" && c.SMTPAddr == "" {
		return nil, nil
	}
	c.SMTPUser, c.SMTPPassword = os.Getenv("CZ_SMTP_USER"), os.Getenv("CZ_SMTP_PASSWORD")
	return notify.New(c), nil
}

func (f *runFlags) add(cmd *cobra.Command, running bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "", "local directory holding the three buckets and the engine's work (the embedded default)")
	addBucketFlags(cmd, &f.buckets)
	fl.StringVar(&f.work, "work", "", "engine work store: attempt outputs, manifests, event logs (default DIR/engine)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "status page address (empty: none)")
	if !running {
		return
	}
	fl.StringVar(&f.filter, "filter", "", "candidate filter rules, a JSON file (default: at least 100 views, tiers >1000 and >100)")
	fl.IntVar(&f.cfg.Partitions, "partitions", 4, "inference tasks per run")
	fl.IntVar(&f.slots, "slots", 0, "executor CPU slots (0: one per core)")
	fl.IntVar(&f.cfg.Face.Threads, "ort-threads", 0, "ONNX Runtime threads per session (0: its default)")
	fl.StringVar(&f.cfg.Face.Provider, "provider", "cpu", "ONNX Runtime execution provider: cpu or cuda")
	fl.Float64Var(&f.cfg.Face.FPS, "fps", 1, "video frames sampled per second")
	f.notify.add(cmd)
}

// config resolves the flags into the runners' configuration.
func (f *runFlags) config() (jobs.Config, store.Bucket, error) {
	buckets, err := bucketConfig(f.dir, f.buckets)
	if err != nil {
		return jobs.Config{}, nil, err
	}
	c := f.cfg
	c.Buckets = buckets
	if f.filter != "" {
		data, err := os.ReadFile(f.filter)
		if err != nil {
			return c, nil, err
		}
		if c.Filter, err = jobs.ParseFilter(f.filter, data); err != nil {
			return c, nil, err
		}
	}
	work := f.work
	if work == "" && f.dir != "" {
		abs, _ := filepath.Abs(f.dir)
		work = filepath.Join(abs, "engine")
	}
	if work == "" {
		return c, nil, fmt.Errorf("give --work (the engine's store) or --dir")
	}
	b, err := openEngineStore(rootContext(), work)
	return c, b, err
}

// serve starts the status page (when --listen is set) over src, with the
// quality page; it returns the page's URL and a stop function.
func (f *runFlags) serve(src web.Source, metrics *engine.Metrics, c jobs.Config) (string, func(), error) {
	if f.listen == "" {
		return "", func() {}, nil
	}
	b, err := layout.Open(rootContext(), c.Buckets)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return "", nil, fmt.Errorf("--listen: %w", err)
	}
	var h http.Handler
	if metrics != nil {
		h = web.Handler(src, metrics.Registry, slog.Default(), jobs.QualityPage(b.Internal))
	} else {
		h = web.Handler(src, nil, slog.Default(), jobs.QualityPage(b.Internal))
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	url := "http://" + ln.Addr().String()
	slog.Info("status page", "url", url+"/")
	return url, func() { srv.Close() }, nil
}

func init() {
	run := &cobra.Command{Use: "run", Short: "Run one of the two runners on the embedded engine"}
	var f runFlags
	var date, batch string
	daily := &cobra.Command{
		Use:   "daily",
		Short: "Run the Daily Runner for one day's content metadata",
		RunE: func(cmd *cobra.Command, args []string) error {
			day, err := contracts.ParseDate(date)
			if err != nil {
				return fmt.Errorf("--date: %w", err)
			}
			return runJob(&f, func(c jobs.Config) engine.JobSpec { return jobs.DailySpec(day, c) })
		},
	}
	f.add(daily, true)
	daily.Flags().StringVar(&date, "date", time.Now().UTC().AddDate(0, 0, -1).Format(contracts.DateLayout), "the day (yyyy-mm-dd); default yesterday (UTC)")
	var fb runFlags
	newBatch := &cobra.Command{
		Use:   "batch",
		Short: "Run the New Celebrity Zone Batch Runner for one upload",
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := contracts.ParseBatchID(batch)
			if err != nil {
				return fmt.Errorf("--batch: %w", err)
			}
			return runJob(&fb, func(c jobs.Config) engine.JobSpec { return jobs.BatchSpec(b, c) })
		},
	}
	fb.add(newBatch, true)
	newBatch.Flags().StringVar(&batch, "batch", "", "the upload, {yyyy-mm-dd}@{n}")
	newBatch.MarkFlagRequired("batch")
	run.AddCommand(daily, newBatch)
	root.AddCommand(run)

	var fw runFlags
	webCmd := &cobra.Command{
		Use:   "web",
		Short: "Serve the status page of past jobs (from their event logs) and the validation quality",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, work, err := fw.config()
			if err != nil {
				return err
			}
			url, stop, err := fw.serve(web.History(work), nil, c)
			if err != nil {
				return err
			}
			defer stop()
			fmt.Printf("status page: %s/ (ctrl-c to stop)\n", url)
			<-cmd.Context().Done()
			return nil
		},
	}
	fw.add(webCmd, false)
	root.AddCommand(webCmd)

	var fq runFlags
	quality := &cobra.Command{
		Use:   "quality",
		Short: "Compute the key metrics from the QC team's validated data (a job) and store them for the status page",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJob(&fq, func(c jobs.Config) engine.JobSpec { return jobs.QualitySpec(c, time.Now()) })
		},
	}
	fq.add(quality, true)
	root.AddCommand(quality)
}

// runJob runs one runner's job on an embedded engine with its status page
// and notifications.
func runJob(f *runFlags, spec func(jobs.Config) engine.JobSpec) error {
	c, work, err := f.config()
	if err != nil {
		return err
	}
	notifier, err := f.notify.notifier()
	if err != nil {
		return err
	}
	l, err := jobs.StartLocal(work, f.slots, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	url, stop, err := f.serve(web.Live(l.Engine), l.Engine.Metrics(), c)
	if err != nil {
		return err
	}
	defer stop()
	l.Notifier, l.StatusURL = notifier, url
	s := spec(c)
	j, err := l.Run(rootContext(), s, "")
	if err != nil {
		return err
	}
	fmt.Printf("job %s %s in %s\n", j.ID, j.State, j.Finished.Sub(j.Submitted).Round(time.Millisecond))
	return nil
}
