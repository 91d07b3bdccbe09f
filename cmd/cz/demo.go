package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/celebrity-zones/cz/internal/deps"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

func init() {
	var (
		dir, photos string
		seed        int64
		slots       int
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run both runners on the sample dataset with the embedded engine and score the result",
		Long: `demo generates the sample dataset under --dir (once), starts the embedded
engine and runs the New Celebrity Zone Batch Runner for the first upload,
the Daily Runner for every sample day, then the batch runner for the second
upload. It prints what was found per zone and the precision and recall
against the sample's known answer. A second run reuses everything.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			work, err := store.OpenDir(filepath.Join(abs, "engine"))
			if err != nil {
				return err
			}
			l, err := jobs.StartLocal(work, slots, nil)
			if err != nil {
				return err
			}
			defer l.Close()
			start := time.Now()
			c := jobs.LocalConfig(abs)
			run, err := jobs.RunSample(ctx, photos, sample.Options{Seed: seed}, c, l)
			if err != nil {
				return err
			}
			printDemo(run, c, abs, time.Since(start))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "demo-out", "directory for the buckets and the engine's work")
	f.StringVar(&photos, "photos", deps.Path("dlib"), "dlib source tree with the labelled photos (make testdata)")
	f.Int64Var(&seed, "seed", 1, "sample seed")
	f.IntVar(&slots, "slots", 0, "executor CPU slots (0: one per core)")
	root.AddCommand(cmd)
}

func printDemo(run *jobs.SampleRun, c jobs.Config, dir string, took time.Duration) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nJOB\tSTATE\tTOOK\n")
	for _, j := range run.Jobs {
		fmt.Fprintf(w, "%s\t%s\t%s\n", j.Spec.Name, j.State, j.Finished.Sub(j.Submitted).Round(time.Millisecond))
	}
	w.Flush()
	fmt.Printf("\n%d candidate videos (of %d in the sample), %d faces\n\n", run.Videos, len(run.Answer.Videos), run.Faces)
	names := make([]string, 0, len(run.PerZone))
	for n := range run.PerZone {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "ZONE\tVIDEOS IDENTIFIED\tCORRECT\tEXPECTED\n")
	for _, n := range names {
		z := run.PerZone[n]
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", n, z.Videos, z.Correct, z.Expected)
	}
	w.Flush()
	s := run.Score
	fmt.Printf("\nper-video zone precision %.3f, recall %.3f (TP %d, FP %d, FN %d) in %s\n",
		s.Precision, s.Recall, s.TruePositives, s.FalsePositives, s.FalseNegatives, took.Round(time.Millisecond))
	if q := run.Quality; q != nil {
		fmt.Printf("QC verdicts: %d correct, %d incorrect over %d runs (precision %.3f)\n", q.Overall.Correct, q.Overall.Incorrect, len(q.Runs), q.Overall.Precision)
	}
	fmt.Printf("\noutputs:\n  external bucket  %s\n  internal bucket  %s\n  content bucket   %s\n  engine work      %s\n",
		c.Buckets.External, c.Buckets.Internal, c.Buckets.Content, "file://"+filepath.Join(dir, "engine"))
	fmt.Printf("status page: bin/cz web --dir %s  (then open http://127.0.0.1:8080)\n", dir)
}
