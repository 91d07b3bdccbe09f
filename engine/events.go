package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/store"
)

// EventKind says what kind of object an event is about.
type EventKind string

const (
	KindJob     EventKind = "job"
	KindStage   EventKind = "stage"
	KindTask    EventKind = "task"
	KindAttempt EventKind = "attempt"
)

// Event is one change the state machine made, with the object's state
// after it. The engine appends a job's events to its event log in the
// store, and ReplayJob rebuilds the job from them when the engine is gone.
type Event struct {
	Index       uint64    `json:"index"`
	Time        time.Time `json:"time"`
	Job         string    `json:"job"`
	Kind        EventKind `json:"kind"`
	Stage       string    `json:"stage,omitempty"`
	Partition   int       `json:"partition,omitempty"`
	Attempt     int       `json:"attempt,omitempty"`
	State       string    `json:"state"`
	Executor    string    `json:"executor,omitempty"`
	Speculative bool      `json:"speculative,omitempty"`
	// Reopened marks the one backward move: a committed task (or stage)
	// going back to running because its output was lost (CanReopen).
	Reopened bool   `json:"reopened,omitempty"`
	Error    string `json:"error,omitempty"`
	// LostInput is a failed attempt's lost upstream output (Attempt.LostInput).
	LostInput *InputRef        `json:"lost_input,omitempty"`
	Spec      *JobSpec         `json:"spec,omitempty"`
	Outputs   []Output         `json:"outputs,omitempty"`
	Counters  map[string]int64 `json:"counters,omitempty"`
	LogTail   string           `json:"log_tail,omitempty"`
	Problems  []string         `json:"problems,omitempty"`
}

// CheckForward checks that in a stream of events every job, stage, task
// and attempt only moved to greater states, except for re-opening: an
// event marked Reopened may move a committed task or stage back to
// running, and nothing else may.
func CheckForward(events []Event) error {
	last := map[string]int{}
	for i, e := range events {
		var s int
		var err error
		key := fmt.Sprintf("%s %s/%s", e.Kind, e.Job, e.Stage)
		switch e.Kind {
		case KindJob:
			var v JobState
			err = v.UnmarshalText([]byte(e.State))
			s = int(v)
		case KindStage:
			var v TaskState
			err = v.UnmarshalText([]byte(e.State))
			s = int(v)
		case KindTask:
			var v TaskState
			err = v.UnmarshalText([]byte(e.State))
			s, key = int(v), fmt.Sprintf("%s/p%d", key, e.Partition)
		case KindAttempt:
			var v AttemptState
			err = v.UnmarshalText([]byte(e.State))
			s, key = int(v), fmt.Sprintf("%s/p%d/a%d", key, e.Partition, e.Attempt)
		}
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if e.Reopened {
			prev, ok := last[key]
			if (e.Kind != KindTask && e.Kind != KindStage) || !ok || !TaskState(prev).CanReopen() || TaskState(s) != TaskRunning {
				return fmt.Errorf("event %d: %s re-opened from state %d to %d; only committed -> running may", i, key, prev, s)
			}
			last[key] = s
			continue
		}
		if prev, ok := last[key]; ok && s <= prev {
			return fmt.Errorf("event %d: %s moved from state %d back to %d", i, key, prev, s)
		}
		last[key] = s
	}
	return nil
}

// ReplayJob rebuilds a job from its events, in log order.
func ReplayJob(events []Event) (*Job, error) {
	var j *Job
	for i, e := range events {
		if j == nil {
			if e.Kind != KindJob || e.Spec == nil {
				return nil, fmt.Errorf("event %d: the log does not start with the job's submission", i)
			}
			j = newJob(e.Job, *e.Spec, e.Time)
			j.CreateIndex = e.Index
		}
		j.ModifyIndex = e.Index
		switch e.Kind {
		case KindJob:
			if err := j.State.UnmarshalText([]byte(e.State)); err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			if e.Error != "" {
				j.Error = e.Error
			}
			if j.State.Terminal() {
				j.Finished = e.Time
			}
		case KindStage:
			st := j.Stage(e.Stage)
			if st == nil {
				return nil, fmt.Errorf("event %d: no stage %q", i, e.Stage)
			}
			if err := st.State.UnmarshalText([]byte(e.State)); err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
		case KindTask:
			t := j.Task(e.Stage, e.Partition)
			if t == nil {
				return nil, fmt.Errorf("event %d: no task %s/p%d", i, e.Stage, e.Partition)
			}
			if err := t.State.UnmarshalText([]byte(e.State)); err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			switch {
			case t.State == TaskCommitted:
				t.Committed, t.Outputs, t.CommitIndex = e.Attempt, e.Outputs, e.Index
				j.Stage(e.Stage).Done++
			case e.Reopened:
				t.Committed, t.Outputs, t.CommitIndex = 0, nil, 0
				t.Reopened++
				j.Stage(e.Stage).Done--
			}
		case KindAttempt:
			t := j.Task(e.Stage, e.Partition)
			if t == nil {
				return nil, fmt.Errorf("event %d: no task %s/p%d", i, e.Stage, e.Partition)
			}
			for len(t.Attempts) < e.Attempt {
				t.Attempts = append(t.Attempts, &Attempt{Num: len(t.Attempts) + 1, Assigned: e.Time})
			}
			at := t.Attempts[e.Attempt-1]
			if err := at.State.UnmarshalText([]byte(e.State)); err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			if at.State == AttemptAssigned {
				at.CreateIndex = e.Index
			}
			at.Executor, at.Speculative, at.Error, at.ModifyIndex = e.Executor, e.Speculative, e.Error, e.Index
			if e.Counters != nil {
				at.Counters = e.Counters
			}
			if e.LogTail != "" {
				at.LogTail = e.LogTail
			}
			if e.Problems != nil {
				at.Problems = e.Problems
			}
			switch {
			case at.State == AttemptRunning:
				at.Started = e.Time
			case at.State.Terminal():
				at.Finished = e.Time
				at.LostInput = e.LostInput
				if at.State == AttemptFailed && at.LostInput == nil {
					t.Failures++
				}
			}
		}
	}
	if j == nil {
		return nil, fmt.Errorf("empty event log")
	}
	return j, nil
}

// Event logs lie at jobs/<id>/events/: object stores cannot append, so
// each write is a new chunk of JSON lines. The leader's engine names a
// chunk by the log index of its first event, <index>.jsonl (zero-padded);
// indexes grow across leader changes, so a new leader never overwrites an
// old leader's chunks. A new leader also writes the recent events its own
// replica applied (WriteEventTail) as <first>-<last>.jsonl, so the events
// an old leader applied but did not write before it died are not lost.
// Chunks may therefore overlap. Every chunk holds, for each index it
// covers, all of the job's events of that index (a command's events are
// buffered and written together), and every replica produces the same
// events for an index, so ReadEventLog keeps each index from the first
// chunk that has it and drops it from the others.

// EventLogPrefix is where a job's event log chunks lie.
func EventLogPrefix(job string) string { return "jobs/" + job + "/events/" }

func eventChunkKey(job string, firstIndex uint64) string {
	return fmt.Sprintf("%s%020d.jsonl", EventLogPrefix(job), firstIndex)
}

// eventTailKey names a chunk WriteEventTail writes. Two such chunks with
// the same key hold the same events, and none shares a key with an
// engine's chunk (whose late write from a deposed leader could otherwise
// replace a longer chunk with a shorter one).
func eventTailKey(job string, first, last uint64) string {
	return fmt.Sprintf("%s%020d-%020d.jsonl", EventLogPrefix(job), first, last)
}

// encodeEvents renders events as JSON lines.
func encodeEvents(events []Event) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range events {
		_ = enc.Encode(e) // Event always encodes
	}
	return buf.Bytes()
}

// WriteEventTail writes events a replica applied, in index order and
// holding every event of each index they cover, to the event logs of
// their jobs: one chunk per job. A new leader calls it with its recent
// events; duplicates of what is already there are dropped by readers.
func WriteEventTail(ctx context.Context, b store.Bucket, events []Event) error {
	byJob := map[string][]Event{}
	var order []string
	for _, e := range events {
		if _, ok := byJob[e.Job]; !ok {
			order = append(order, e.Job)
		}
		byJob[e.Job] = append(byJob[e.Job], e)
	}
	var errs []error
	for _, id := range order {
		evs := byJob[id]
		key := eventTailKey(id, evs[0].Index, evs[len(evs)-1].Index)
		if err := store.PutBytes(ctx, b, key, encodeEvents(evs)); err != nil {
			errs = append(errs, fmt.Errorf("event log of job %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// ReadEventLog reads a job's whole event log from the store: each event
// once, in index order (see the chunk layout above).
func ReadEventLog(ctx context.Context, b store.Bucket, job string) ([]Event, error) {
	list, err := b.List(ctx, EventLogPrefix(job), "")
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(list.Objects))
	for _, o := range list.Objects {
		if strings.HasSuffix(o.Key, ".jsonl") {
			keys = append(keys, o.Key)
		}
	}
	sort.Strings(keys)
	var events []Event
	owner := map[uint64]int{} // index -> the chunk its events come from
	sorted := true
	for c, k := range keys {
		data, err := store.ReadAll(ctx, b, k)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for line := 1; sc.Scan(); line++ {
			var e Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", store.Join(b.URL(), k), line, err)
			}
			if from, ok := owner[e.Index]; ok && from != c {
				continue // an earlier chunk holds this index
			}
			owner[e.Index] = c
			if n := len(events); n > 0 && events[n-1].Index > e.Index {
				sorted = false
			}
			events = append(events, e)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", store.Join(b.URL(), k), err)
		}
	}
	if !sorted {
		// Stable: the events of one index keep their order.
		sort.SliceStable(events, func(i, k int) bool { return events[i].Index < events[k].Index })
	}
	return events, nil
}

// ListLoggedJobs returns the IDs of the jobs that have an event log.
func ListLoggedJobs(ctx context.Context, b store.Bucket) ([]string, error) {
	list, err := b.List(ctx, "jobs/", "/")
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range list.Prefixes {
		id := strings.TrimSuffix(strings.TrimPrefix(p, "jobs/"), "/")
		if ev, err := b.List(ctx, EventLogPrefix(id), ""); err == nil && len(ev.Objects) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}
