package coordinator

import (
	"bytes"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"github.com/celebrity-zones/cz/engine"
)

// fsm adapts the engine's state machine to Raft: each log entry is an
// engine command (a type byte and a JSON body) applied at its log index,
// which is the version every record carries.
type fsm struct {
	f *engine.FSM
	// applied, when set, sees every command this replica applies in order
	// (tests compare the sequences of all replicas).
	applied func(index uint64, cmd []byte)
	// tail keeps the events of the last commands applied, for the event
	// logs of a new leader (see eventTail).
	tail *eventTail
}

func (a *fsm) Apply(l *raft.Log) any {
	r := a.f.Apply(l.Index, l.Data)
	if a.tail != nil && r != nil {
		a.tail.add(len(l.Data), r.Events)
	}
	if a.applied != nil {
		a.applied(l.Index, l.Data)
	}
	return r
}

func (a *fsm) Snapshot() (raft.FSMSnapshot, error) {
	var b bytes.Buffer
	if err := a.f.Snapshot(&b); err != nil {
		return nil, err
	}
	return snapshot(b.Bytes()), nil
}

func (a *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	return a.f.Restore(r)
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}

// raftLog is the engine.Log of a leader: commands go through raft.Apply
// and come back as the *engine.Result the leader's FSM produced. The
// engine already packs many changes into each command (CmdReports,
// CmdPlan, CmdBatch), and Raft groups concurrent proposals into one disk
// write and one AppendEntries round.
type raftLog struct {
	r       *raft.Raft
	timeout time.Duration
}

func (l raftLog) Apply(cmd []byte) (*engine.Result, error) {
	f := l.r.Apply(cmd, l.timeout)
	if err := f.Error(); err != nil {
		return nil, err
	}
	res, ok := f.Response().(*engine.Result)
	if !ok {
		return nil, errNotResult
	}
	return res, nil
}
