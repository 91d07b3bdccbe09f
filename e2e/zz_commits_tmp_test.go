package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/executor"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/sample"
)

// TEMPORARY (commit-history helper): runs the batch and daily jobs under
// faults with CZ_COMMIT_HISTORY and checks the commit history. Deleted
// before the report.
func TestTmpCommitsOnSystem(t *testing.T) {
	srv := testenv.StartS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	photos, err := sample.LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	opt := sample.Options{Seed: 51, Days: 1, VideosPerDay: 6}
	faults := []fault{
		{name: "kill the leader", hit: func(ctx context.Context, s *System) error {
			l := s.Leader(ctx)
			if l < 0 {
				return fmt.Errorf("no leader")
			}
			s.Coordinators[l].Kill()
			return nil
		}},
		{name: "kill an executor mid-task", hit: func(ctx context.Context, s *System) error {
			s.Executors[0].Kill()
			return nil
		}},
		{name: "partition the leader from the majority", hit: isolateLeader},
		{name: "delay and duplicate every task result",
			executors: []ExecutorOptions{{ID: "x1", Env: []string{"CZ_FAULTS=report-delay=200ms,report-twice"}},
				{ID: "x2", Env: []string{"CZ_FAULTS=report-delay=200ms,report-twice"}}}},
		{name: "restart every coordinator", hit: func(ctx context.Context, s *System) error {
			for _, c := range s.Coordinators {
				c.Kill()
			}
			for _, c := range s.Coordinators {
				c.Start(s.t)
			}
			return nil
		}},
		{name: "hold-commit", executors: []ExecutorOptions{{ID: "x1"}, {ID: "x2"}, {ID: "x3", CPUs: 4, Env: []string{"CZ_FAULTS=hold-commit"}}},
			watch: func(ctx context.Context, s *System) error {
				x := s.Executors[2]
				if _, err := x.WaitLog(ctx, "fault: holding a committed report"); err != nil {
					return err
				}
				x.Kill()
				return nil
			}},
	}
	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			hist := filepath.Join(t.TempDir(), "commits.jsonl")
			xs := f.executors
			if xs == nil {
				xs = defaultExecutors()
			}
			for k := range xs {
				xs[k].Env = append(xs[k].Env, "CZ_COMMIT_HISTORY="+hist)
			}
			f.executors = xs
			w := openS3World(t, srv, fmt.Sprintf("t%d-", i), srv.Endpoint, true)
			ans, err := sample.Generate(ctx, w.b, photos, opt)
			if err != nil {
				t.Fatal(err)
			}
			finished, _ := runOnSystem(t, ctx, srv, w, ans, f)
			calls, err := executor.ReadCommitHistory(hist)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckCommits(ctx, w.work, finished, []string{hist}); err != nil {
				t.Fatal(err)
			}
			h, _ := commitHistory(ctx, w.work, finished, []string{hist})
			t.Logf("%d calls, %d ops: linearizable", len(calls), len(h))
		})
	}
}
