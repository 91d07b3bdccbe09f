package coordinator

import (
	"sync"

	"github.com/celebrity-zones/cz/engine"
)

// Bounds of a replica's event tail. At the leader's default flush every
// 100 ms, 20,000 events are far more than one flush interval holds even
// under load; the byte bound keeps a burst of large events (job specs,
// log tails) in check.
const (
	tailEvents = 20_000
	tailBytes  = 64 << 20
)

// eventTail keeps the events of the last commands this replica applied,
// whole commands only, oldest first, within a bound on their count and an
// estimate of their size. A new leader writes them to the jobs' event
// logs (engine.WriteEventTail): they hold what the old leader applied but
// may not have written before it died. Events older than the tail that an
// old leader never wrote stay missing from the log.
type eventTail struct {
	maxEvents, maxBytes int

	mu      sync.Mutex
	entries []tailEntry
	events  int
	bytes   int
}

type tailEntry struct {
	events []engine.Event
	size   int
}

func newEventTail(maxEvents, maxBytes int) *eventTail {
	return &eventTail{maxEvents: maxEvents, maxBytes: maxBytes}
}

// add records the events one command made. cmdSize, the command's length,
// stands for their size: events carry what the command carried (specs,
// outputs, counters, log tails) plus a few fields each.
func (t *eventTail) add(cmdSize int, events []engine.Event) {
	if len(events) == 0 {
		return
	}
	size := cmdSize + 256*len(events)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries = append(t.entries, tailEntry{events: events, size: size})
	t.events += len(events)
	t.bytes += size
	drop := 0
	for drop < len(t.entries)-1 && (t.events > t.maxEvents || t.bytes > t.maxBytes) {
		t.events -= len(t.entries[drop].events)
		t.bytes -= t.entries[drop].size
		t.entries[drop] = tailEntry{}
		drop++
	}
	t.entries = t.entries[drop:]
}

// snapshot returns the tail's events in index order.
func (t *eventTail) snapshot() []engine.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]engine.Event, 0, t.events)
	for _, e := range t.entries {
		out = append(out, e.events...)
	}
	return out
}
