// Package coordinator is cz's control plane in distributed mode: a node
// of a 1-, 3- or 5-member Raft group (hashicorp/raft over raft-wal) that
// replicates the engine's state machine, runs the leader-only machinery
// (the engine loop, executor leases) while it leads, and serves the gRPC
// API: the Client service from any node (followers forward writes to the
// leader) and the Executor service from the leader. Executors find the
// coordinators through memberlist gossip; see package executor.
//
// Fencing: every executor session belongs to one Raft term. Assignments
// carry the term they were made in, so an executor ignores a deposed
// leader's late assignments; reports carry the executor's session term
// and the leader refuses any other term, and the state machine itself
// refuses reports of superseded attempts. A deposed leader cannot commit
// anything: its raft.Apply fails.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/notify"
	"github.com/celebrity-zones/cz/scaling"
	"github.com/celebrity-zones/cz/store"
)

type raftAddress = raft.ServerAddress

var errNotResult = errors.New("raft: the FSM returned no engine result")

// Peer is a member of the Raft group.
type Peer struct {
	ID       string
	RaftAddr string
	// APIAddr is its gRPC address (where followers forward and redirect).
	APIAddr string
}

// Timing tunes Raft and the executor leases.
type Timing struct {
	Heartbeat, Election, LeaderLease, Commit time.Duration
	// LeaseTTL is how long an executor lives without a heartbeat.
	LeaseTTL time.Duration
	// LeaseGrace is what a new leader gives every executor to reconnect
	// before it counts its lease.
	LeaseGrace time.Duration
	// ApplyTimeout bounds one raft.Apply.
	ApplyTimeout time.Duration
}

// DefaultTiming suits a LAN: a leader within about a second, executor
// loss declared after 6 s without heartbeats.
var DefaultTiming = Timing{
	Heartbeat: 500 * time.Millisecond, Election: 500 * time.Millisecond,
	LeaderLease: 250 * time.Millisecond, Commit: 5 * time.Millisecond,
	LeaseTTL: 6 * time.Second, LeaseGrace: 12 * time.Second, ApplyTimeout: 10 * time.Second,
}

// Config configures a Node.
type Config struct {
	ID string
	// Dir keeps the Raft log (raft-wal) and snapshots. Empty: in memory
	// (tests only).
	Dir string
	// RaftBind is the Raft TCP address ("127.0.0.1:7000"); RaftAdvertise
	// what others dial when it differs. When RaftBind's host is a specific
	// IP (not empty, 0.0.0.0 or ::), Raft's outgoing connections leave
	// from that IP too, so peers, firewalls and fault-injecting proxies
	// see one address per member (several members on one machine bind
	// 127.0.0.11, 127.0.0.12, ...: all of 127.0.0.0/8 is loopback on
	// Linux).
	RaftBind, RaftAdvertise string
	// Transport replaces the TCP transport (tests: raft's in-memory one).
	Transport raft.Transport
	// Peers is the initial membership, this node included. A node whose
	// log is empty bootstraps with it; every member must be given the
	// same list.
	Peers []Peer
	// APIAddr is this node's gRPC address as others reach it.
	APIAddr  string
	Security Security
	// Bucket holds attempt outputs, manifests and event logs.
	Bucket store.Bucket
	Timing Timing
	// SnapshotThreshold is how many log entries trigger a snapshot
	// (default 8192).
	SnapshotThreshold uint64
	Logger            *slog.Logger
	// Applied, when set, sees every command the replica applies.
	Applied func(index uint64, cmd []byte)
	// Scaling, when its Group is set, resizes the executor group from the
	// engine's load while this node leads (transient executors).
	Scaling Scaling
	// Notifier, when set, hears of every job's end (succeeded, failed,
	// cancelled) from whichever node leads, once per job, and StatusURL
	// is the status page its messages link to. A job is marked announced
	// in Bucket (NotifiedKey); a new leader announces finished jobs
	// without the mark that ended during its term or up to an hour
	// before. Delivery is at least once: a leader lost between sending
	// and marking lets the next one send again.
	Notifier  *notify.Notifier
	StatusURL string
	// Retention says when the leader forgets finished jobs from the
	// state machine (engine.Retention; zero: the defaults). Forgotten
	// jobs are still served (GetJob) from Bucket.
	Retention engine.Retention
}

// Scaling configures the leader's executor autoscaling.
type Scaling struct {
	Group  scaling.Autoscaler
	Policy scaling.Policy
	// Every is how often the load is measured (default 10 s).
	Every time.Duration
}

// Node is one coordinator.
type Node struct {
	cfg    Config
	logger *slog.Logger
	fsm    *engine.FSM
	raft   *raft.Raft
	trans  raft.Transport
	wal    *raftwal.WAL
	meta   *metadb.BoltMetaDB
	view   *engine.Engine // read-only views over the replica
	tail   *eventTail     // the events this replica applied last

	notify  chan bool
	closing chan struct{}
	watched chan struct{}

	mu      sync.Mutex
	leading *leaderState
	apis    map[string]string // peer ID -> API address
	gossip  *Gossip
	fwd     forwarder
}

// Start opens the node's stores, joins or bootstraps the group and
// starts watching for leadership.
func Start(cfg Config) (*Node, error) {
	if cfg.ID == "" {
		return nil, fmt.Errorf("coordinator: an ID is required")
	}
	if err := cfg.Security.check(); err != nil {
		return nil, err
	}
	if cfg.Notifier != nil && cfg.Bucket == nil {
		return nil, fmt.Errorf("coordinator: job notifications need the engine's bucket (announced jobs are marked there)")
	}
	if cfg.Timing == (Timing{}) {
		cfg.Timing = DefaultTiming
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, logger: cfg.Logger.With("node", cfg.ID), fsm: engine.NewFSM(),
		notify: make(chan bool, 16), closing: make(chan struct{}), watched: make(chan struct{}),
		apis: map[string]string{}, tail: newEventTail(tailEvents, tailBytes)}
	n.view = engine.New(engine.Config{FSM: n.fsm, Bucket: cfg.Bucket, Logger: n.logger})
	for _, p := range cfg.Peers {
		n.apis[p.ID] = p.APIAddr
	}
	if cfg.APIAddr != "" {
		n.apis[cfg.ID] = cfg.APIAddr
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout, rc.ElectionTimeout = cfg.Timing.Heartbeat, cfg.Timing.Election
	rc.LeaderLeaseTimeout, rc.CommitTimeout = cfg.Timing.LeaderLease, cfg.Timing.Commit
	rc.NotifyCh = n.notify
	rc.MaxAppendEntries = 1024
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
		rc.TrailingLogs = cfg.SnapshotThreshold
	}
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft-" + cfg.ID, Level: hclog.Warn, Output: slogWriter{n.logger}})

	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
	)
	if cfg.Dir == "" {
		mem := raft.NewInmemStore()
		logs, stable, snaps = mem, mem, raft.NewInmemSnapshotStore()
	} else {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, "wal"), 0o755); err != nil {
			return nil, err
		}
		// The WAL does not close a meta store it opened itself (its bolt
		// file stays locked): own it.
		n.meta = &metadb.BoltMetaDB{}
		w, err := raftwal.Open(filepath.Join(cfg.Dir, "wal"), raftwal.WithMetaStore(n.meta))
		if err != nil {
			n.meta.Close()
			return nil, fmt.Errorf("open raft log: %w", err)
		}
		n.wal, logs, stable = w, w, w
		fs, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, rc.Logger)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("open snapshots: %w", err)
		}
		snaps = fs
	}
	n.trans = cfg.Transport
	if n.trans == nil {
		var adv net.Addr
		if cfg.RaftAdvertise != "" {
			a, err := net.ResolveTCPAddr("tcp", cfg.RaftAdvertise)
			if err != nil {
				return nil, fmt.Errorf("raft advertise address: %w", err)
			}
			adv = a
		}
		stream, err := newTLSStream(cfg.RaftBind, adv, cfg.Security)
		if err != nil {
			n.closeStores()
			return nil, fmt.Errorf("raft transport: %w", err)
		}
		n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: rc.Logger})
	}
	if len(cfg.Peers) > 0 {
		has, err := raft.HasExistingState(logs, stable, snaps)
		if err != nil {
			n.closeStores()
			return nil, err
		}
		if !has {
			var conf raft.Configuration
			for _, p := range cfg.Peers {
				addr := raft.ServerAddress(p.RaftAddr)
				if p.ID == cfg.ID {
					addr = n.trans.LocalAddr()
				}
				conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: addr, Suffrage: raft.Voter})
			}
			if err := raft.BootstrapCluster(rc, logs, stable, snaps, n.trans, conf); err != nil {
				n.closeStores()
				return nil, fmt.Errorf("bootstrap: %w", err)
			}
		}
	}
	r, err := raft.NewRaft(rc, &fsm{f: n.fsm, applied: cfg.Applied, tail: n.tail}, logs, stable, snaps, n.trans)
	if err != nil {
		n.closeStores()
		return nil, err
	}
	n.raft = r
	go n.watchLeadership()
	return n, nil
}

func (n *Node) closeStores() {
	if n.wal != nil {
		n.wal.Close()
		n.meta.Close()
	}
	if c, ok := n.trans.(io.Closer); ok && n.cfg.Transport == nil {
		c.Close()
	}
}

// Close stops the leader machinery and Raft, and closes the stores.
func (n *Node) Close() error {
	select {
	case <-n.closing:
		return nil
	default:
	}
	close(n.closing)
	<-n.watched
	err := n.raft.Shutdown().Error()
	n.closeStores()
	n.closeForwarder()
	if n.gossip != nil {
		n.gossip.Close()
	}
	return err
}

// ID is the node's Raft server ID.
func (n *Node) ID() string { return n.cfg.ID }

// Raft exposes the Raft instance (membership changes, stats).
func (n *Node) Raft() *raft.Raft { return n.raft }

// FSM is the node's replica of the engine state.
func (n *Node) FSM() *engine.FSM { return n.fsm }

// View is an engine over the replica for read-only views (the status
// page, job reads); it never runs.
func (n *Node) View() *engine.Engine { return n.view }

// Engine returns the running engine while this node leads, else nil.
func (n *Node) Engine() *engine.Engine {
	if l := n.leader(); l != nil {
		return l.eng
	}
	return nil
}

// IsLeader reports whether this node leads and its machinery runs.
func (n *Node) IsLeader() bool { return n.leader() != nil }

func (n *Node) leader() *leaderState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leading
}

// ReplicaFresh says whether this member's replica is recent enough to
// serve a watch from: it leads, or it heard from the leader within four
// heartbeat-plus-election timeouts. A member cut off from the majority
// answers Unavailable, so that a client moves to another member instead
// of watching a replica that no longer changes.
func (n *Node) ReplicaFresh() error {
	if n.raft.State() == raft.Leader {
		return nil
	}
	bound := 4 * (n.cfg.Timing.Heartbeat + n.cfg.Timing.Election)
	if last := n.raft.LastContact(); last.IsZero() || time.Since(last) > bound {
		ago := "ever"
		if !last.IsZero() {
			ago = "for " + time.Since(last).Round(time.Millisecond).String()
		}
		return status.Errorf(codes.Unavailable, "member %s has not heard from a leader %s: its replica may be stale; ask another member", n.cfg.ID, ago)
	}
	return nil
}

// Leader returns the current leader's ID and API address, if known.
func (n *Node) Leader() (id, api string) {
	_, lid := n.raft.LeaderWithID()
	n.mu.Lock()
	api = n.apis[string(lid)]
	n.mu.Unlock()
	if api == "" && lid != "" {
		api = n.gossipAPI(string(lid))
	}
	return string(lid), api
}

// SetAPIAddr records a peer's API address (learned through gossip).
func (n *Node) SetAPIAddr(id, api string) {
	n.mu.Lock()
	n.apis[id] = api
	n.mu.Unlock()
}

// WaitLeader waits until some node of the group leads (this one or
// another) and returns its ID.
func (n *Node) WaitLeader(ctx context.Context) (string, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if _, id := n.raft.LeaderWithID(); id != "" {
			return string(id), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

// watchLeadership starts the leader machinery when this node wins an
// election and stops it when it loses leadership.
func (n *Node) watchLeadership() {
	defer close(n.watched)
	var cur *leaderState
	stop := func() {
		if cur != nil {
			n.mu.Lock()
			n.leading = nil
			n.mu.Unlock()
			cur.stop()
			n.logger.Info("leader machinery stopped", "term", cur.term)
			cur = nil
		}
	}
	retry := time.NewTicker(100 * time.Millisecond)
	defer retry.Stop()
	for {
		select {
		case <-n.closing:
			stop()
			return
		case lead := <-n.notify:
			if !lead {
				stop()
				continue
			}
		case <-retry.C:
			// A failed start (a barrier that timed out) or a leader
			// machinery that died while Raft still leads: try again.
			if cur != nil && cur.dead() {
				stop()
			}
			if cur != nil || n.raft.State() != raft.Leader {
				continue
			}
		}
		if cur != nil && cur.term != n.raft.CurrentTerm() {
			stop() // lost and won again in between
		}
		if cur == nil && n.raft.State() == raft.Leader {
			l, err := n.startLeading()
			if err != nil {
				n.logger.Warn("cannot start leader machinery", "err", err)
				continue
			}
			cur = l
			n.mu.Lock()
			n.leading = l
			n.mu.Unlock()
			n.logger.Info("leading", "term", l.term, "index", n.fsm.Index())
		}
	}
}

// slogWriter sends a library's log lines to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
