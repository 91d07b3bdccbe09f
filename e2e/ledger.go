package e2e

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

// Ledger is what a finished run left, read back from the stores: the
// evidence the checks below judge.
type Ledger struct {
	// Predicted holds every predicted-data file, by key, with the job
	// ids blanked (they differ between runs by design).
	Predicted map[string][]contracts.PredictedRow
	// Metadata holds every candidate's metadata, by content uuid.
	Metadata map[string]contracts.CandidateMetadata
}

// ReadLedger reads what a run left in the buckets.
func ReadLedger(ctx context.Context, b *layout.Buckets, model string) (*Ledger, error) {
	l := &Ledger{Predicted: map[string][]contracts.PredictedRow{}, Metadata: map[string]contracts.CandidateMetadata{}}
	list, err := b.External.List(ctx, "predicted-data/", "")
	if err != nil {
		return nil, err
	}
	for _, o := range list.Objects {
		data, err := store.ReadAll(ctx, b.External, o.Key)
		if err != nil {
			return nil, err
		}
		rows, err := contracts.ParsePredicted(o.Key, bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		for i := range rows {
			rows[i].JobID = ""
		}
		l.Predicted[o.Key] = rows
	}
	prefix := "candidates/metadata/" + model + "/"
	list, err = b.Internal.List(ctx, prefix, "")
	if err != nil {
		return nil, err
	}
	for _, o := range list.Objects {
		data, err := store.ReadAll(ctx, b.Internal, o.Key)
		if err != nil {
			return nil, err
		}
		m, err := contracts.ParseCandidateMetadata(o.Key, data)
		if err != nil {
			return nil, err
		}
		l.Metadata[strings.TrimSuffix(strings.TrimPrefix(o.Key, prefix), ".json")] = m
	}
	return l, nil
}

// Check judges a finished run: every candidate of the sample processed
// exactly once with complete metadata, one committed attempt and one
// visible output per partition, no attempt objects or multipart uploads
// left behind, and (when baseline is given) the same predicted data and
// identifications as a run without faults. It returns every problem.
func Check(ctx context.Context, b *layout.Buckets, work store.Bucket, finished []*engine.Job, ans *sample.Answer, cfg jobs.Config, model string, baseline *Ledger) ([]string, *Ledger) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	l, err := ReadLedger(ctx, b, model)
	if err != nil {
		return []string{err.Error()}, nil
	}
	// Each candidate once, complete.
	cfg = cfg.WithDefaults()
	expected := map[string]bool{}
	for _, v := range ans.Videos {
		meta := contracts.ContentMetadata{ContentUUID: v.ContentUUID, Views: v.Views, Likes: v.Likes, Shares: v.Shares}
		if c, _ := cfg.Filter.Apply([]contracts.ContentMetadata{meta}); len(c) > 0 {
			expected[v.ContentUUID] = true
		}
	}
	for id := range expected {
		m, ok := l.Metadata[id]
		if !ok {
			bad("candidate %s has no metadata", id)
			continue
		}
		if err := m.Validate(); err != nil {
			bad("candidate %s: metadata incomplete: %v", id, err)
		}
	}
	for id := range l.Metadata {
		if !expected[id] {
			bad("metadata for %s, which is not a candidate", id)
		}
	}
	// Predicted rows: no face twice in a file.
	for key, rows := range l.Predicted {
		seen := map[[2]string]bool{}
		for _, r := range rows {
			k := [2]string{r.ContentUUID, r.FaceID}
			if seen[k] {
				bad("%s: face %s of %s appears twice", key, r.FaceID, r.ContentUUID)
			}
			seen[k] = true
		}
	}
	// One committed attempt and one visible output per partition.
	for _, j := range finished {
		if j.State != engine.JobSucceeded {
			continue
		}
		outs, err := engine.ReadJobOutputs(ctx, work, j.ID)
		if err != nil {
			bad("job %s: %v", j.ID, err)
			continue
		}
		for _, st := range j.Stages {
			m, ok := outs[st.Name]
			if !ok || len(m.Partitions) != len(st.Tasks) {
				bad("job %s stage %s: manifest lists %d partitions, want %d", j.ID, st.Name, len(m.Partitions), len(st.Tasks))
				continue
			}
			for _, p := range m.Partitions {
				t := st.Tasks[p.Partition]
				if t.Committed != p.Attempt || t.State != engine.TaskCommitted {
					bad("job %s %s/p%d: manifest names attempt %d, state says %d (%s)", j.ID, st.Name, p.Partition, p.Attempt, t.Committed, t.State)
				}
			}
		}
		list, err := work.List(ctx, "jobs/"+j.ID+"/", "")
		if err != nil {
			bad("job %s: %v", j.ID, err)
			continue
		}
		keep := map[string]bool{}
		for _, m := range outs {
			for _, p := range m.Partitions {
				for _, o := range p.Outputs {
					keep[o.Key] = true
				}
			}
		}
		for _, o := range list.Objects {
			if strings.Contains(o.Key, "/attempts/") && !keep[o.Key] {
				bad("job %s: orphaned attempt object %s", j.ID, o.Key)
			}
		}
	}
	for name, bk := range map[string]store.Bucket{"external": b.External, "internal": b.Internal, "content": b.Content, "work": work} {
		if ups, err := bk.ListUploads(ctx, ""); err != nil || len(ups) > 0 {
			bad("%s bucket: open multipart uploads %v (%v)", name, ups, err)
		}
	}
	if baseline != nil {
		for key, want := range baseline.Predicted {
			if got := l.Predicted[key]; !slices.EqualFunc(got, want, samePrediction) {
				bad("%s differs from the run without faults:\n got  %v\n want %v", key, got, want)
			}
		}
		for key := range l.Predicted {
			if _, ok := baseline.Predicted[key]; !ok {
				bad("%s exists only in the run with faults", key)
			}
		}
		for id, want := range baseline.Metadata {
			got := l.Metadata[id]
			if !slices.Equal(got.UniqueZonesIdentified, want.UniqueZonesIdentified) || got.NumDetectedFaces != want.NumDetectedFaces {
				bad("candidate %s: zones %v / %d faces, without faults %v / %d", id, got.UniqueZonesIdentified, got.NumDetectedFaces, want.UniqueZonesIdentified, want.NumDetectedFaces)
			}
		}
	}
	return problems, l
}

// samePrediction compares rows up to float noise in the distance.
func samePrediction(a, b contracts.PredictedRow) bool {
	d := a.Distance - b.Distance
	a.Distance, b.Distance = 0, 0
	return a == b && d < 1e-4 && d > -1e-4
}
