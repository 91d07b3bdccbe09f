package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// Operators of the Daily Runner.
const (
	opDailyCandidates = "daily.candidates"
	opDailyInference  = "daily.inference"
	opDailyPublish    = "daily.publish"
)

func init() {
	engine.Register(opDailyCandidates, dailyCandidates)
	engine.Register(opDailyInference, dailyInference)
	engine.Register(opDailyPublish, dailyPublish)
}

// DailySpec is the Daily Runner for one day:
//
//	candidates (1 task)  read the day's content-metadata partition, filter, balance
//	inference  (P tasks) faces of each video, classified by the latest index
//	publish    (1 task)  intermediate Parquet and the predicted-data CSV
func DailySpec(day time.Time, c Config) engine.JobSpec {
	c.defaults()
	date := day.Format(contracts.DateLayout)
	return engine.JobSpec{
		Version: engine.SpecVersion,
		Name:    layout.DailyRunner + "-" + date,
		Params:  map[string]string{paramConfig: c.param(), "runner": layout.DailyRunner, "date": date},
		Stages: []engine.StageSpec{
			{Name: "candidates", Operator: opDailyCandidates, Partitions: 1, Resources: engine.Resources{CPU: 1, MemoryMB: 256}},
			{Name: "inference", Operator: opDailyInference, Partitions: c.Partitions, Upstream: []string{"candidates"},
				Resources: engine.Resources{CPU: 1, MemoryMB: 1024}},
			{Name: "publish", Operator: opDailyPublish, Partitions: 1, Upstream: []string{"inference"}, Resources: engine.Resources{CPU: 1, MemoryMB: 512}},
		},
	}
}

// CandidateReport is what the candidates stage found.
type CandidateReport struct {
	Rows       int         `json:"rows"`
	Candidates int         `json:"candidates"`
	Rejected   []Rejection `json:"rejected"`
	Problems   []string    `json:"problems,omitempty"` // unreadable files, skipped
}

func dailyCandidates(ctx context.Context, t *engine.Task) error {
	c, b, err := taskSetup(ctx, t)
	if err != nil {
		return err
	}
	day, err := contracts.ParseDate(t.Param("date"))
	if err != nil {
		return engine.Fatal(err)
	}
	rows, problems, err := readContentPartition(ctx, b.Content, day)
	if err != nil {
		return err
	}
	cands, rejected := c.Filter.Apply(rows)
	rep := CandidateReport{Rows: len(rows), Candidates: len(cands), Rejected: rejected, Problems: problems}
	for _, p := range problems {
		t.Log.Warn("content metadata skipped", "problem", p)
		t.Problem("%s", p)
	}
	t.Log.Info("candidates", "day", t.Param("date"), "rows", len(rows), "candidates", len(cands), "rejected", len(rejected))
	t.Count("candidates", int64(len(cands)))
	t.Count("rejected", int64(len(rejected)))
	groups := Balance(cands, c.Partitions)
	for i := range c.Partitions {
		var g []Candidate
		if i < len(groups) {
			g = groups[i]
		}
		if err := putJSON(ctx, t, groupName(i), g); err != nil {
			return err
		}
	}
	return putJSON(ctx, t, "report.json", rep)
}

func groupName(i int) string { return fmt.Sprintf("group-%05d.json", i) }

// readContentPartition reads every Parquet file of a day's partition. A
// file that breaks the contract is reported and skipped: the others go on.
func readContentPartition(ctx context.Context, content store.Bucket, day time.Time) ([]contracts.ContentMetadata, []string, error) {
	prefix := layout.ContentPartition(day)
	list, err := content.List(ctx, prefix, "")
	if err != nil {
		return nil, nil, err
	}
	var rows []contracts.ContentMetadata
	var problems []string
	seen := map[string]string{}
	for _, o := range list.Objects {
		if !strings.HasSuffix(o.Key, ".parquet") {
			continue
		}
		data, err := store.ReadAll(ctx, content, o.Key)
		if err != nil {
			return nil, nil, err
		}
		name := store.Join(content.URL(), o.Key)
		part, err := contracts.ReadContentMetadata(name, bytes.NewReader(data), int64(len(data)), day)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, r := range part {
			if first, dup := seen[r.ContentUUID]; dup {
				problems = append(problems, fmt.Sprintf("%s: content %s also in %s; kept the first", name, r.ContentUUID, first))
				continue
			}
			seen[r.ContentUUID] = name
			rows = append(rows, r)
		}
	}
	if len(list.Objects) == 0 {
		problems = append(problems, fmt.Sprintf("%s: the partition is empty", store.Join(content.URL(), prefix)))
	}
	return rows, problems, nil
}

func dailyInference(ctx context.Context, t *engine.Task) error {
	c, err := taskConfig(t)
	if err != nil {
		return err
	}
	var group []Candidate
	if err := readJSONInput(ctx, t, "candidates", groupName(t.Partition), &group); err != nil {
		return err
	}
	inf, err := newInference(ctx, t, c, contracts.DailyRunner, t.Param("date"))
	if err != nil {
		return err
	}
	for _, cand := range group {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := inf.video(ctx, cand); err != nil {
			return err
		}
	}
	return inf.finish(ctx)
}

func dailyPublish(ctx context.Context, t *engine.Task) error {
	_, b, err := taskSetup(ctx, t)
	if err != nil {
		return err
	}
	day, err := contracts.ParseDate(t.Param("date"))
	if err != nil {
		return engine.Fatal(err)
	}
	return publish(ctx, t, b, "inference", layout.IntermediateDaily(day), layout.PredictedDaily(day))
}

// putJSON writes an attempt output as JSON.
func putJSON(ctx context.Context, t *engine.Task, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return engine.Fatal(err)
	}
	return t.Put(ctx, name, data)
}

// readJSONInput reads the output called name of an upstream stage.
func readJSONInput(ctx context.Context, t *engine.Task, stage, name string, v any) error {
	for _, o := range t.Inputs(stage) {
		if o.Name == name {
			return readJSON(ctx, t, o, v)
		}
	}
	return engine.Fatal(fmt.Errorf("stage %s committed no output %s", stage, name))
}
