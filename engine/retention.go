package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/store"
)

// Job retention: the state machine holds every job it knows in memory and
// in every Raft snapshot, so the leader forgets finished jobs once they
// are older than Retention.MaxAge or beyond the newest Retention.MaxJobs
// finished ones. A forgotten job is still readable (Engine.Lookup) from
// the store: its final record, archived by the leader just before it
// forgets it (RecordKey), or else its event log replayed.
//
// Idempotency keys outlive their jobs: the key of a forgotten job still
// maps to its ID (State.Keys) for Retention.MaxAge after the job was
// forgotten (State.ForgottenKeys records when), so a client retrying a
// submission days later finds its job instead of starting a second one.
// A key is a few dozen bytes; a job is kilobytes.

// Default retention.
const (
	DefaultRetentionMaxAge  = 7 * 24 * time.Hour
	DefaultRetentionMaxJobs = 2000
	// DefaultRetentionEvery is how often the leader looks for jobs to forget.
	DefaultRetentionEvery = time.Minute
	// forgetBatch bounds the jobs one CmdForgetJobs forgets.
	forgetBatch = 500
)

// Retention says how long the state machine keeps finished jobs.
type Retention struct {
	// MaxAge forgets jobs that finished longer ago than this (0: 7 days,
	// DefaultRetentionMaxAge; negative: never by age). It is also how long
	// the idempotency key of a forgotten job still finds it (7 days when
	// MaxAge is negative).
	MaxAge time.Duration
	// MaxJobs keeps at most this many finished jobs, the newest (0: 2000,
	// DefaultRetentionMaxJobs; negative: no limit). Running jobs are never
	// forgotten and do not count.
	MaxJobs int
	// Every is how often the leader sweeps (0: a minute; negative: never,
	// only when ForgetFinished is called).
	Every time.Duration
}

// withDefaults fills in the zero fields.
func (r Retention) withDefaults() Retention {
	if r.MaxAge == 0 {
		r.MaxAge = DefaultRetentionMaxAge
	}
	if r.MaxJobs == 0 {
		r.MaxJobs = DefaultRetentionMaxJobs
	}
	if r.Every == 0 {
		r.Every = DefaultRetentionEvery
	}
	return r
}

// keyAge is how long a forgotten job's idempotency key is kept.
func (r Retention) keyAge() time.Duration {
	if r.MaxAge > 0 {
		return r.MaxAge
	}
	return DefaultRetentionMaxAge
}

// ForgetJobs removes finished jobs from the state; a job that is not
// finished (or not known) is skipped and named in Result.Rejected. The
// idempotency keys of the forgotten jobs are kept (State.ForgottenKeys),
// and the kept keys of jobs forgotten before Before are dropped.
type ForgetJobs struct {
	IDs    []string  `json:"ids"`
	Before time.Time `json:"before,omitzero"`
	Time   time.Time `json:"time"`
}

func (a *applier) forget(c ForgetJobs) {
	gone := map[string]bool{}
	for _, id := range c.IDs {
		j := a.s.Jobs[id]
		switch {
		case j == nil:
			a.r.Rejected = append(a.r.Rejected, fmt.Sprintf("forget: no job %q", id))
			continue
		case !j.State.Terminal():
			a.r.Rejected = append(a.r.Rejected, fmt.Sprintf("forget: job %s is %s, not finished", id, j.State))
			continue
		}
		delete(a.s.Jobs, id)
		gone[id] = true
		if j.IdempotencyKey != "" && a.s.Keys[j.IdempotencyKey] == id {
			a.s.ForgottenKeys[j.IdempotencyKey] = c.Time
		}
		a.r.Forgotten = append(a.r.Forgotten, id)
	}
	if len(gone) > 0 {
		a.s.JobOrder = slices.DeleteFunc(a.s.JobOrder, func(id string) bool { return gone[id] })
	}
	if c.Before.IsZero() {
		return
	}
	for key, at := range a.s.ForgottenKeys {
		if at.Before(c.Before) {
			delete(a.s.ForgottenKeys, key)
			delete(a.s.Keys, key)
		}
	}
}

// RecordKey is where the leader archives a job's final record before it
// forgets the job.
func RecordKey(job string) string { return "jobs/" + job + "/record.json" }

// ForgetFinished forgets the finished jobs beyond the retention limits,
// at most 500 per command, oldest first, and drops the idempotency keys
// that have outlived theirs; it returns how many jobs it forgot. Each
// job's record is archived in the store first (RecordKey); a job whose
// record cannot be written is kept for the next sweep. Only the leader
// calls it (Run does, every Retention.Every); without a bucket it forgets
// nothing, as a forgotten job could not be read back.
func (e *Engine) ForgetFinished(ctx context.Context) (int, error) {
	if e.bucket == nil {
		return 0, nil
	}
	ret := e.cfg.Retention
	now := time.Now()
	keysBefore := now.Add(-ret.keyAge())
	var victims []string
	expiredKeys := false
	e.fsm.Read(func(s *State) {
		var done []*Job
		for _, id := range s.JobOrder {
			if j := s.Jobs[id]; j.State.Terminal() {
				done = append(done, j)
			}
		}
		// Newest first; ties (and clock steps) broken by log order.
		slices.SortStableFunc(done, func(a, b *Job) int {
			if c := b.Finished.Compare(a.Finished); c != 0 {
				return c
			}
			return cmp.Compare(b.ModifyIndex, a.ModifyIndex)
		})
		for i, j := range done {
			if (ret.MaxJobs > 0 && i >= ret.MaxJobs) || (ret.MaxAge > 0 && now.Sub(j.Finished) > ret.MaxAge) {
				victims = append(victims, j.ID)
			}
		}
		slices.Reverse(victims) // oldest first
		if len(victims) > forgetBatch {
			victims = victims[:forgetBatch]
		}
		for _, at := range s.ForgottenKeys {
			expiredKeys = expiredKeys || at.Before(keysBefore)
		}
	})
	if len(victims) == 0 && !expiredKeys {
		return 0, nil
	}
	var ids []string
	var errs []error
	for _, id := range victims {
		j := e.Job(id) // a copy
		if j == nil {
			continue
		}
		if err := putJSON(ctx, e.bucket, RecordKey(j.ID), j); err != nil {
			errs = append(errs, fmt.Errorf("archive job %s: %w", j.ID, err))
			continue
		}
		ids = append(ids, j.ID)
	}
	r, err := e.apply(Encode(CmdForgetJobs, ForgetJobs{IDs: ids, Before: keysBefore, Time: now}))
	if err != nil {
		return 0, errors.Join(append(errs, err)...)
	}
	e.metrics.forgotten.Add(float64(len(r.Forgotten)))
	if len(r.Forgotten) > 0 {
		e.logger.Info("forgot finished jobs", "jobs", len(r.Forgotten), "oldest", r.Forgotten[0])
	}
	return len(r.Forgotten), errors.Join(errs...)
}

// retain sweeps every Retention.Every until ctx ends.
func (e *Engine) retain(ctx context.Context) {
	if e.cfg.Retention.Every < 0 {
		return
	}
	t := time.NewTicker(e.cfg.Retention.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := e.ForgetFinished(ctx)
			if err != nil && ctx.Err() == nil {
				e.logger.Warn("forget finished jobs", "err", err)
			}
			if n < forgetBatch || err != nil {
				break // a backlog goes on in batches; else wait for the next tick
			}
		}
	}
}

// ErrNoJob is returned by Lookup for a job neither the state nor the
// store knows.
var ErrNoJob = errors.New("no such job")

// Lookup returns a job's record: from the state while it holds the job,
// else from the store (the record archived when the job was forgotten, or
// else the job replayed from its event log). A job found nowhere is
// ErrNoJob.
func (e *Engine) Lookup(ctx context.Context, id string) (*Job, error) {
	if j := e.Job(id); j != nil {
		return j, nil
	}
	if e.bucket == nil || id == "" || strings.ContainsAny(id, "/\\") {
		return nil, fmt.Errorf("%w: %q", ErrNoJob, id)
	}
	return ReadJobRecord(ctx, e.bucket, id)
}

// ReadJobRecord reads a job from the store: the record archived when the
// state machine forgot it or, when there is none, the job replayed from
// its event log. A job with neither is ErrNoJob.
func ReadJobRecord(ctx context.Context, b store.Bucket, id string) (*Job, error) {
	data, err := store.ReadAll(ctx, b, RecordKey(id))
	switch {
	case err == nil:
		j := new(Job)
		if err := json.Unmarshal(data, j); err != nil {
			return nil, fmt.Errorf("%s: %w", store.Join(b.URL(), RecordKey(id)), err)
		}
		return j, nil
	case !errors.Is(err, store.ErrNotExist):
		return nil, err
	}
	events, err := ReadEventLog(ctx, b, id)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoJob, id)
	}
	return ReplayJob(events)
}
