package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/notify"
	"github.com/celebrity-zones/cz/store"
)

// Announcing the end of jobs. While a node leads, it sends one
// notify.JobEnded event for each job that reaches a terminal state, then
// marks the job announced with the object NotifiedKey(job) in the engine's
// bucket. A new leader announces every finished job without the marker,
// so an end is not lost when a leader dies before it announced it. The
// delivery is at least once: a leader that dies (or is deposed) between
// sending and marking lets its successor send the same message again.
//
// Old jobs never flood the channels: a leader only announces jobs that
// ended during its term or at most notifyBacklog before it began, so a
// cluster that ran without a notifier, or whose store lost the markers,
// catches up on the last hour at most.
const (
	notifyBacklog = time.Hour
	// notifyEvery is how often the leader looks for newly finished jobs
	// (only when the replica changed).
	notifyEvery = 200 * time.Millisecond
	// A message the channels refused is tried again notifyRetry later,
	// notifyTries times in all per term; then the job is left to the next
	// leader (if it comes within the backlog).
	notifyRetry = 30 * time.Second
	notifyTries = 3
)

// NotifiedKey is the object that marks a job's end as announced.
func NotifiedKey(job string) string { return "jobs/" + job + "/notified" }

// notifiedMark is the body of a NotifiedKey object.
type notifiedMark struct {
	State string    `json:"state"`
	Sent  time.Time `json:"sent"`
	Node  string    `json:"node"`
	Term  uint64    `json:"term"`
}

// announce sends the job-end notifications of this term until it ends.
// It runs on its own goroutine: a slow channel never holds the scheduler.
func (l *leaderState) announce() {
	defer close(l.announced)
	n := l.n.cfg.Notifier
	if n == nil {
		close(l.firstPass)
		return
	}
	since := l.started.Add(-notifyBacklog)
	handled := map[string]bool{}    // announced, skipped or given up in this term
	tries := map[string]int{}       // failed sends per job
	retry := map[string]time.Time{} // when a failed job is due again
	t := time.NewTicker(notifyEvery)
	defer t.Stop()
	var last uint64
	first := true
	for {
		if idx := l.n.fsm.Index(); first || idx != last || len(retry) > 0 {
			last = idx
			var ended []notify.Event
			l.n.fsm.Read(func(s *engine.State) {
				for _, id := range s.JobOrder {
					j := s.Jobs[id]
					if handled[id] || j == nil || !j.State.Terminal() {
						continue
					}
					if j.Finished.Before(since) {
						handled[id] = true
						continue
					}
					ended = append(ended, notify.JobEnded(j, l.n.cfg.StatusURL))
				}
			})
			for _, e := range ended {
				if l.ctx.Err() != nil {
					return
				}
				if due, ok := retry[e.Job]; ok && time.Now().Before(due) {
					continue
				}
				delete(retry, e.Job)
				if l.announceJob(n, e) {
					handled[e.Job] = true
					continue
				}
				if l.ctx.Err() != nil {
					return
				}
				if tries[e.Job]++; tries[e.Job] >= notifyTries {
					l.n.logger.Warn("job end not announced: giving up in this term", "job", e.Job, "tries", tries[e.Job])
					handled[e.Job] = true
					continue
				}
				retry[e.Job] = time.Now().Add(notifyRetry)
			}
		}
		if first {
			first = false
			close(l.firstPass)
		}
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// announceJob sends e unless its job is marked announced, then marks it.
// It reports whether the job needs nothing more.
func (l *leaderState) announceJob(n *notify.Notifier, e notify.Event) bool {
	b, key := l.n.cfg.Bucket, NotifiedKey(e.Job)
	_, err := b.Stat(l.ctx, key)
	switch {
	case err == nil:
		return true
	case !errors.Is(err, store.ErrNotExist):
		l.n.logger.Warn("cannot read the job's notification mark", "job", e.Job, "err", err)
		return false
	}
	if err := n.Notify(l.ctx, e); err != nil {
		return false // the notifier logged it
	}
	body, _ := json.Marshal(notifiedMark{State: e.State, Sent: time.Now().UTC(), Node: l.n.cfg.ID, Term: l.term})
	if err := b.PutIfAbsent(l.ctx, key, bytes.NewReader(body)); err != nil && !errors.Is(err, store.ErrExists) {
		// Sent but unmarked: the next leader may send it again.
		l.n.logger.Warn("cannot mark the job's end announced", "job", e.Job, "err", err)
	}
	l.n.logger.Info("job end announced", "job", e.Job, "state", e.State)
	return true
}
