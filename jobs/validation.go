package jobs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// Counts are verdicts of the QC team. Precision is correct over judged
// (correct + incorrect); unsure verdicts are counted but not judged.
type Counts struct {
	Correct   int     `json:"correct"`
	Incorrect int     `json:"incorrect"`
	Unsure    int     `json:"unsure"`
	Precision float64 `json:"precision"`
}

func (c *Counts) add(v contracts.Verdict) {
	switch v {
	case contracts.VerdictCorrect:
		c.Correct++
	case contracts.VerdictIncorrect:
		c.Incorrect++
	default:
		c.Unsure++
	}
	if judged := c.Correct + c.Incorrect; judged > 0 {
		c.Precision = float64(c.Correct) / float64(judged)
	}
}

// Total is every verdict.
func (c Counts) Total() int { return c.Correct + c.Incorrect + c.Unsure }

// ZoneQuality is one zone's verdicts.
type ZoneQuality struct {
	ZoneID   string `json:"zone_id"`
	ZoneName string `json:"zone_name"`
	Counts
}

// RunQuality is one validated file: one daily run or one batch.
type RunQuality struct {
	Runner string    `json:"runner"`
	Run    string    `json:"run"`
	Day    time.Time `json:"day"`
	Counts
}

// QualityReport is the key metrics from the validated data: overall, per
// zone and per run (the trend over days).
type QualityReport struct {
	GeneratedAt time.Time     `json:"generated_at"`
	Overall     Counts        `json:"overall"`
	Zones       []ZoneQuality `json:"zones"`
	Runs        []RunQuality  `json:"runs"`
	// Problems names the validated files that could not be read; the
	// others are still counted.
	Problems []string `json:"problems,omitempty"`
}

// ComputeQuality reads every validated-data CSV in the external bucket and
// computes the report. A bad file is reported in Problems and skipped.
func ComputeQuality(ctx context.Context, external store.Bucket, now time.Time) (*QualityReport, error) {
	rep := &QualityReport{GeneratedAt: now.UTC(), Zones: []ZoneQuality{}, Runs: []RunQuality{}}
	zones := map[string]*ZoneQuality{}
	for _, runner := range []string{layout.DailyRunner, layout.NewBatchRunner} {
		list, err := external.List(ctx, layout.ValidatedPrefix(runner), "")
		if err != nil {
			return nil, err
		}
		for _, o := range list.Objects {
			if !strings.HasSuffix(o.Key, ".csv") {
				continue
			}
			data, err := store.ReadAll(ctx, external, o.Key)
			if err != nil {
				return nil, err
			}
			rows, err := contracts.ParseValidated(o.Key, bytes.NewReader(data))
			if err != nil {
				rep.Problems = append(rep.Problems, err.Error())
				continue
			}
			run := RunQuality{Runner: runner, Run: strings.TrimSuffix(strings.TrimPrefix(o.Key, layout.ValidatedPrefix(runner)), ".csv")}
			run.Day = runDay(run.Run)
			for _, r := range rows {
				run.add(r.Verdict)
				rep.Overall.add(r.Verdict)
				z := zones[r.ZoneID]
				if z == nil {
					z = &ZoneQuality{ZoneID: r.ZoneID, ZoneName: r.ZoneName}
					zones[r.ZoneID] = z
				}
				z.add(r.Verdict)
			}
			rep.Runs = append(rep.Runs, run)
		}
	}
	for _, z := range zones {
		rep.Zones = append(rep.Zones, *z)
	}
	slices.SortFunc(rep.Zones, func(a, b ZoneQuality) int { return cmp.Compare(a.ZoneName+a.ZoneID, b.ZoneName+b.ZoneID) })
	slices.SortFunc(rep.Runs, func(a, b RunQuality) int {
		return cmp.Or(a.Day.Compare(b.Day), cmp.Compare(a.Runner, b.Runner), cmp.Compare(a.Run, b.Run))
	})
	return rep, nil
}

// runDay is the date a run's name starts with (yyyy-mm-dd or yyyy-mm-dd@n).
func runDay(run string) time.Time {
	d, _ := contracts.ParseDate(strings.SplitN(run, "@", 2)[0])
	return d
}

// StoreQuality writes the report where the status page reads it.
func StoreQuality(ctx context.Context, internal store.Bucket, rep *QualityReport) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return store.PutBytes(ctx, internal, layout.ValidationMetrics, data)
}

// LoadQuality reads the stored report.
func LoadQuality(ctx context.Context, internal store.Bucket) (*QualityReport, error) {
	data, err := store.ReadAll(ctx, internal, layout.ValidationMetrics)
	if err != nil {
		return nil, err
	}
	var rep QualityReport
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", layout.ValidationMetrics, err)
	}
	return &rep, nil
}
