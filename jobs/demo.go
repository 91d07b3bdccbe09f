package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

// SampleRun is the outcome of running both runners over a sample, in the
// order production would: the first new-zone batch, every day's daily
// run, then the second batch re-classifying what the days left
// unidentified.
type SampleRun struct {
	Answer *sample.Answer
	Jobs   []*engine.Job
	Score  Score
	// PerZone counts identified videos per zone name.
	PerZone map[string]ZoneScore
	Videos  int // candidates processed
	Faces   int
	// Quality is the metrics from the (simulated) QC team's verdicts.
	Quality *QualityReport
}

// RunSample generates (or reuses) a sample in the buckets of c and runs
// it on an engine.
func RunSample(ctx context.Context, photosDir string, opt sample.Options, c Config, l *Local) (*SampleRun, error) {
	b, err := layout.Open(ctx, c.Buckets)
	if err != nil {
		return nil, err
	}
	photos, err := sample.LoadPhotos(photosDir)
	if err != nil {
		return nil, err
	}
	ans, err := sample.Generate(ctx, b, photos, opt)
	if err != nil {
		return nil, err
	}
	run := &SampleRun{Answer: ans}
	submit := func(spec engine.JobSpec) error {
		start := time.Now()
		// The idempotency key is the run itself: submitting the same day
		// twice reuses the job, as a repeated EventBridge event would.
		j, err := l.Run(ctx, spec, spec.Name+"/"+fmt.Sprint(opt.Seed))
		if j != nil {
			run.Jobs = append(run.Jobs, j)
		}
		if err != nil {
			return err
		}
		slog.Info("job done", "job", j.ID, "name", spec.Name, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	first, err := contracts.ParseBatchID(ans.Batches[0].Batch)
	if err != nil {
		return nil, err
	}
	if err := submit(BatchSpec(first, c)); err != nil {
		return run, err
	}
	for _, d := range ans.Days {
		day, _ := contracts.ParseDate(d)
		if err := submit(DailySpec(day, c)); err != nil {
			return run, err
		}
	}
	for _, ab := range ans.Batches[1:] {
		batch, err := contracts.ParseBatchID(ab.Batch)
		if err != nil {
			return nil, err
		}
		if err := submit(BatchSpec(batch, c)); err != nil {
			return run, err
		}
	}
	run.Score, run.PerZone, run.Videos, run.Faces, err = ScoreSample(ctx, b, ans, c)
	if err != nil {
		return run, err
	}
	// The QC team's verdicts come back, and feed the quality metrics.
	if _, err := sample.Review(ctx, b.External, ans, time.Now()); err != nil {
		return run, err
	}
	if err := submit(QualitySpec(c, time.Now())); err != nil {
		return run, err
	}
	run.Quality, err = LoadQuality(ctx, b.Internal)
	return run, err
}

// Score compares identified zones per video with the known answer, over
// (video, zone) pairs of the videos that passed the filter.
type Score struct {
	TruePositives, FalsePositives, FalseNegatives int
	Precision, Recall                             float64
}

// ZoneScore is one zone's identifications across the videos.
type ZoneScore struct {
	Videos, Correct, Expected int
}

// ScoreSample reads each candidate's metadata and scores it.
func ScoreSample(ctx context.Context, b *layout.Buckets, ans *sample.Answer, c Config) (Score, map[string]ZoneScore, int, int, error) {
	c.defaults()
	var s Score
	perZone := map[string]ZoneScore{}
	zones := ans.ZonesByID()
	videos, faces := 0, 0
	model, err := modelName(c)
	if err != nil {
		return s, nil, 0, 0, err
	}
	for _, v := range ans.Videos {
		meta := contracts.ContentMetadata{ContentUUID: v.ContentUUID, Views: v.Views, Likes: v.Likes, Shares: v.Shares}
		if cands, _ := c.Filter.Apply([]contracts.ContentMetadata{meta}); len(cands) == 0 {
			continue
		}
		videos++
		key := layout.CandidateMetadata(model, v.ContentUUID)
		data, err := store.ReadAll(ctx, b.Internal, key)
		if err != nil {
			return s, nil, 0, 0, fmt.Errorf("candidate %s has no metadata: %w", v.ContentUUID, err)
		}
		m, err := contracts.ParseCandidateMetadata(key, data)
		if err != nil {
			return s, nil, 0, 0, err
		}
		faces += m.NumDetectedFaces
		for _, z := range m.UniqueZonesIdentified {
			zs := perZone[zones[z].Name]
			zs.Videos++
			if slices.Contains(v.Zones, z) {
				s.TruePositives++
				zs.Correct++
			} else {
				s.FalsePositives++
			}
			perZone[zones[z].Name] = zs
		}
		for _, z := range v.Zones {
			zs := perZone[zones[z].Name]
			zs.Expected++
			perZone[zones[z].Name] = zs
			if !slices.Contains(m.UniqueZonesIdentified, z) {
				s.FalseNegatives++
			}
		}
	}
	if n := s.TruePositives + s.FalsePositives; n > 0 {
		s.Precision = float64(s.TruePositives) / float64(n)
	}
	if n := s.TruePositives + s.FalseNegatives; n > 0 {
		s.Recall = float64(s.TruePositives) / float64(n)
	}
	return s, perZone, videos, faces, nil
}

func modelName(c Config) (string, error) {
	p, err := openPipeline(c.Face)
	if err != nil {
		return "", err
	}
	return p.ModelName(), nil
}

// LocalConfig is the embedded default under one directory.
func LocalConfig(dir string) Config {
	abs, _ := filepath.Abs(dir)
	c := Config{Buckets: layout.Local(abs)}
	c.defaults()
	return c
}
