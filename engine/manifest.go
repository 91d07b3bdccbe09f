package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/store"
)

// A stage's output becomes visible only through its manifest, and a job's
// through the job manifest, written last: a reader that finds the job
// manifest finds every committed output, and never an attempt's leftovers.

// StageManifest lists a committed stage's outputs, partition by partition.
type StageManifest struct {
	Job        string              `json:"job"`
	Stage      string              `json:"stage"`
	Partitions []PartitionManifest `json:"partitions"`
}

// PartitionManifest is one partition's committed attempt and outputs.
type PartitionManifest struct {
	Partition int      `json:"partition"`
	Attempt   int      `json:"attempt"`
	Outputs   []Output `json:"outputs"`
}

// JobManifestFile is the job manifest: the job's spec and where its
// stage manifests lie.
type JobManifestFile struct {
	Job      string            `json:"job"`
	Name     string            `json:"name"`
	Spec     JobSpec           `json:"spec"`
	Stages   map[string]string `json:"stages"` // stage name → manifest key
	Finished time.Time         `json:"finished"`
}

// ManifestKey is where a job's manifest lies.
func ManifestKey(job string) string { return "jobs/" + job + "/manifest.json" }

// StageManifestKey is where a stage's manifest lies.
func StageManifestKey(job, stage string) string {
	return "jobs/" + job + "/" + stage + "/manifest.json"
}

// writeManifests writes every stage manifest, then the job manifest.
func (e *Engine) writeManifests(ctx context.Context, id string) error {
	j := e.Job(id)
	if j == nil {
		return fmt.Errorf("no job %q", id)
	}
	if e.bucket == nil {
		return nil
	}
	jm := JobManifestFile{Job: j.ID, Name: j.Spec.Name, Spec: j.Spec, Stages: map[string]string{}, Finished: time.Now().UTC()}
	for _, st := range j.Stages {
		sm := StageManifest{Job: j.ID, Stage: st.Name}
		for _, t := range st.Tasks {
			sm.Partitions = append(sm.Partitions, PartitionManifest{Partition: t.Partition, Attempt: t.Committed, Outputs: t.Outputs})
		}
		key := StageManifestKey(j.ID, st.Name)
		if err := putJSON(ctx, e.bucket, key, sm); err != nil {
			return err
		}
		jm.Stages[st.Name] = key
	}
	return putJSON(ctx, e.bucket, ManifestKey(j.ID), jm)
}

func putJSON(ctx context.Context, b store.Bucket, key string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return store.PutBytes(ctx, b, key, data)
}

// ReadJobOutputs reads a finished job's manifests and returns each stage's
// committed outputs. It fails when the job manifest is missing: the job
// did not succeed (or has not finished).
func ReadJobOutputs(ctx context.Context, b store.Bucket, job string) (map[string]StageManifest, error) {
	data, err := store.ReadAll(ctx, b, ManifestKey(job))
	if err != nil {
		return nil, fmt.Errorf("job %s has no manifest (not succeeded?): %w", job, err)
	}
	var jm JobManifestFile
	if err := json.Unmarshal(data, &jm); err != nil {
		return nil, fmt.Errorf("%s: %w", store.Join(b.URL(), ManifestKey(job)), err)
	}
	out := map[string]StageManifest{}
	for stage, key := range jm.Stages {
		data, err := store.ReadAll(ctx, b, key)
		if err != nil {
			return nil, err
		}
		var sm StageManifest
		if err := json.Unmarshal(data, &sm); err != nil {
			return nil, fmt.Errorf("%s: %w", store.Join(b.URL(), key), err)
		}
		out[stage] = sm
	}
	return out, nil
}

// Sweep deletes a job's attempt objects that no committed task references
// (failed, lost, cancelled and losing speculative attempts) and aborts the
// job's open multipart uploads. Run it when the job has finished.
func Sweep(ctx context.Context, b store.Bucket, j *Job) (deleted, aborted int, err error) {
	keep := map[string]bool{}
	for _, st := range j.Stages {
		for _, t := range st.Tasks {
			for _, o := range t.Outputs {
				keep[o.Key] = true
			}
		}
	}
	prefix := "jobs/" + j.ID + "/"
	list, err := b.List(ctx, prefix, "")
	if err != nil {
		return 0, 0, err
	}
	for _, o := range list.Objects {
		if strings.Contains(o.Key, "/attempts/") && !keep[o.Key] {
			if err := b.Delete(ctx, o.Key); err != nil {
				return deleted, aborted, err
			}
			deleted++
		}
	}
	ups, err := b.ListUploads(ctx, prefix)
	if err != nil {
		return deleted, aborted, err
	}
	for _, u := range ups {
		if err := b.AbortUpload(ctx, u); err != nil {
			return deleted, aborted, err
		}
		aborted++
	}
	return deleted, aborted, nil
}
