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
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/shuffle"
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

// Operators of the quality job.
const (
	opQualityVerdicts  = "quality.verdicts"
	opQualityAggregate = "quality.aggregate"
	opQualityPublish   = "quality.publish"
)

func init() {
	engine.Register(opQualityVerdicts, qualityVerdicts)
	engine.Register(opQualityAggregate, qualityAggregate)
	engine.Register(opQualityPublish, qualityPublish)
}

// qualityReducers is how many tasks aggregate the verdicts.
const qualityReducers = 2

// QualitySpec computes the key metrics from every validated-data CSV of
// the external bucket and stores them for the status page:
//
//	verdicts  (P tasks) parse a share of the validated files; shuffle one
//	                    record per verdict by zone, by run and overall
//	aggregate (2 tasks) count each key's verdicts
//	publish   (1 task)  assemble and store the report
func QualitySpec(c Config, now time.Time) engine.JobSpec {
	c.defaults()
	return engine.JobSpec{
		Version: engine.SpecVersion,
		Name:    "quality-" + now.UTC().Format("2006-01-02T150405"),
		Params:  map[string]string{paramConfig: c.param(), "now": now.UTC().Format(time.RFC3339)},
		Stages: []engine.StageSpec{
			{Name: "verdicts", Operator: opQualityVerdicts, Partitions: c.Partitions, Resources: engine.Resources{CPU: 1, MemoryMB: 256}},
			{Name: "aggregate", Operator: opQualityAggregate, Partitions: qualityReducers, Upstream: []string{"verdicts"}, Resources: engine.Resources{CPU: 1, MemoryMB: 256}},
			{Name: "publish", Operator: opQualityPublish, Partitions: 1, Upstream: []string{"aggregate"}, Resources: engine.Resources{CPU: 1, MemoryMB: 256}},
		},
	}
}

// verdict is one shuffled record's value: a verdict with what the
// aggregate needs to name its key.
type verdict struct {
	Verdict contracts.Verdict `json:"v"`
	Name    string            `json:"name,omitempty"` // zone name for zone keys
	Problem string            `json:"problem,omitempty"`
}

// Shuffle keys of the quality job.
const (
	keyOverall = "overall"
	keyZone    = "zone/"    // + zone id
	keyRun     = "run/"     // + runner + "/" + run
	keyProblem = "problem/" // + file
)

func qualityVerdicts(ctx context.Context, t *engine.Task) error {
	_, b, err := taskSetup(ctx, t)
	if err != nil {
		return err
	}
	w, err := shuffle.NewWriter(shuffle.Options{Partitioner: shuffle.Hash(qualityReducers), Sort: true, Codec: shuffle.Snappy})
	if err != nil {
		return engine.Fatal(err)
	}
	add := func(key string, v verdict) error {
		data, _ := json.Marshal(v)
		return w.Add([]byte(key), data)
	}
	files := 0
	for _, runner := range []string{layout.DailyRunner, layout.NewBatchRunner} {
		list, err := b.External.List(ctx, layout.ValidatedPrefix(runner), "")
		if err != nil {
			w.Discard()
			return err
		}
		for _, o := range list.Objects {
			if !strings.HasSuffix(o.Key, ".csv") || int(keyID(o.Key)%uint64(t.Partitions)) != t.Partition {
				continue
			}
			files++
			data, err := store.ReadAll(ctx, b.External, o.Key)
			if err != nil {
				w.Discard()
				return err
			}
			run := keyRun + runner + "/" + strings.TrimSuffix(strings.TrimPrefix(o.Key, layout.ValidatedPrefix(runner)), ".csv")
			rows, perr := contracts.ParseValidated(o.Key, bytes.NewReader(data))
			switch {
			case perr != nil:
				// A bad file is reported; the others are still counted.
				err = add(keyProblem+o.Key, verdict{Problem: perr.Error()})
			case len(rows) == 0:
				err = add(run, verdict{}) // a run with nothing to judge still shows
			}
			for _, r := range rows {
				if err == nil {
					err = add(keyOverall, verdict{Verdict: r.Verdict})
				}
				if err == nil {
					err = add(keyZone+r.ZoneID, verdict{Verdict: r.Verdict, Name: r.ZoneName})
				}
				if err == nil {
					err = add(run, verdict{Verdict: r.Verdict})
				}
			}
			if err != nil {
				w.Discard()
				return err
			}
		}
	}
	t.Count("files", int64(files))
	_, err = shuffle.WriteTask(ctx, t, "verdicts", w, shuffle.Auto)
	return err
}

func qualityAggregate(ctx context.Context, t *engine.Task) error {
	r, err := shuffle.NewTaskReader(ctx, t, "verdicts", "verdicts", shuffle.ReadOptions{})
	if err != nil {
		return err
	}
	var part QualityReport
	err = r.Groups(ctx, func(key []byte, values [][]byte) error {
		var c Counts
		name := ""
		for _, raw := range values {
			var v verdict
			if err := json.Unmarshal(raw, &v); err != nil {
				return engine.Fatal(fmt.Errorf("shuffled verdict of %s: %w", key, err))
			}
			switch {
			case v.Problem != "":
				part.Problems = append(part.Problems, v.Problem)
				t.Problem("%s", v.Problem)
			case v.Verdict != "":
				c.add(v.Verdict)
			}
			name = cmp.Or(name, v.Name)
		}
		k := string(key)
		switch {
		case k == keyOverall:
			part.Overall = c
		case strings.HasPrefix(k, keyZone):
			part.Zones = append(part.Zones, ZoneQuality{ZoneID: strings.TrimPrefix(k, keyZone), ZoneName: name, Counts: c})
		case strings.HasPrefix(k, keyRun):
			runner, run, _ := strings.Cut(strings.TrimPrefix(k, keyRun), "/")
			part.Runs = append(part.Runs, RunQuality{Runner: runner, Run: run, Day: runDay(run), Counts: c})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return putJSON(ctx, t, "part.json", part)
}

func qualityPublish(ctx context.Context, t *engine.Task) error {
	_, b, err := taskSetup(ctx, t)
	if err != nil {
		return err
	}
	now, err := time.Parse(time.RFC3339, t.Param("now"))
	if err != nil {
		return engine.Fatal(fmt.Errorf("param now: %w", err))
	}
	rep := &QualityReport{GeneratedAt: now, Zones: []ZoneQuality{}, Runs: []RunQuality{}}
	for _, o := range t.Inputs("aggregate") {
		var part QualityReport
		if err := readJSON(ctx, t, o, &part); err != nil {
			return err
		}
		if part.Overall.Total() > 0 {
			rep.Overall = part.Overall // one reducer holds the overall key
		}
		rep.Zones = append(rep.Zones, part.Zones...)
		rep.Runs = append(rep.Runs, part.Runs...)
		rep.Problems = append(rep.Problems, part.Problems...)
	}
	slices.SortFunc(rep.Zones, func(a, b ZoneQuality) int { return cmp.Compare(a.ZoneName+a.ZoneID, b.ZoneName+b.ZoneID) })
	slices.SortFunc(rep.Runs, func(a, b RunQuality) int {
		return cmp.Or(a.Day.Compare(b.Day), cmp.Compare(a.Runner, b.Runner), cmp.Compare(a.Run, b.Run))
	})
	slices.Sort(rep.Problems)
	if err := t.Authorize(ctx); err != nil {
		return err
	}
	if err := StoreQuality(ctx, b.Internal, rep); err != nil {
		return err
	}
	t.Log.Info("quality stored", "verdicts", rep.Overall.Total(), "precision", rep.Overall.Precision, "runs", len(rep.Runs), "zones", len(rep.Zones))
	return putJSON(ctx, t, "report.json", rep)
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
