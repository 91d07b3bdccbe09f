package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/celebrity-zones/cz/engine"
)

var fastTiming = Timing{
	Heartbeat: 50 * time.Millisecond, Election: 50 * time.Millisecond, LeaderLease: 50 * time.Millisecond,
	Commit: 5 * time.Millisecond, LeaseTTL: time.Minute, LeaseGrace: time.Minute, ApplyTimeout: 2 * time.Second,
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// record is one replica's applied sequence.
type record struct {
	mu  sync.Mutex
	cmd map[uint64][]byte
}

func (r *record) add(i uint64, c []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.cmd[i]; dup {
		panic(fmt.Sprintf("index %d applied twice", i))
	}
	r.cmd[i] = bytes.Clone(c)
}

type memCluster struct {
	t      *testing.T
	nodes  []*Node
	trans  []*raft.InmemTransport
	record []*record
}

func startMemCluster(t *testing.T, size int, opts ...func(*Config)) *memCluster {
	t.Helper()
	c := &memCluster{t: t}
	var peers []Peer
	for i := 0; i < size; i++ {
		addr, tr := raft.NewInmemTransport("")
		c.trans = append(c.trans, tr)
		peers = append(peers, Peer{ID: fmt.Sprintf("n%d", i+1), RaftAddr: string(addr)})
	}
	for i, a := range c.trans {
		for j, b := range c.trans {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	for i := 0; i < size; i++ {
		rec := &record{cmd: map[uint64][]byte{}}
		cfg := Config{ID: peers[i].ID, Transport: c.trans[i], Peers: peers, Timing: fastTiming,
			Security: Security{Insecure: true}, Logger: quiet(), SnapshotThreshold: 32, Applied: rec.add}
		for _, o := range opts {
			o(&cfg)
		}
		n, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
		c.record = append(c.record, rec)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Close()
		}
	})
	return c
}

// leader waits for a leader among the given nodes whose machinery runs.
func (c *memCluster) leader(among ...int) int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, i := range among {
			if c.nodes[i].IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader among %v", among)
	return -1
}

// isolate cuts node i off from every other node, both ways.
func (c *memCluster) isolate(i int) {
	for j, tr := range c.trans {
		if j != i {
			tr.Disconnect(c.trans[i].LocalAddr())
			c.trans[i].Disconnect(tr.LocalAddr())
		}
	}
}

func (c *memCluster) heal(i int) {
	for j, tr := range c.trans {
		if j != i {
			tr.Connect(c.trans[i].LocalAddr(), c.trans[i])
			c.trans[i].Connect(tr.LocalAddr(), tr)
		}
	}
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func register(n *Node, id string) error {
	_, err := raftLog{r: n.raft, timeout: time.Second}.Apply(engine.Encode(engine.CmdRegisterExecutor,
		engine.RegisterExecutor{ID: id, Resources: engine.Resources{CPU: 1}, Time: time.Unix(1, 0)}))
	return err
}

// converge waits until every replica holds the same state, then checks
// that no two replicas applied different commands at the same index.
func (c *memCluster) converge() {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var snaps []string
	for time.Now().Before(deadline) {
		snaps = snaps[:0]
		for _, n := range c.nodes {
			var b bytes.Buffer
			if err := n.fsm.Snapshot(&b); err != nil {
				c.t.Fatal(err)
			}
			snaps = append(snaps, b.String())
		}
		same := true
		for _, s := range snaps[1:] {
			same = same && s == snaps[0]
		}
		if same {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, s := range snaps[1:] {
		if s != snaps[0] {
			c.t.Fatalf("replica %d differs from replica 0:\n%s\nvs\n%s", i+1, s, snaps[0])
		}
	}
	seen := map[uint64][]byte{}
	for r, rec := range c.record {
		rec.mu.Lock()
		for i, cmd := range rec.cmd {
			if prev, ok := seen[i]; ok && !bytes.Equal(prev, cmd) {
				c.t.Errorf("replica %d applied a different command at index %d", r, i)
			}
			seen[i] = cmd
		}
		rec.mu.Unlock()
	}
}

func executorCount(n *Node) int {
	k := 0
	n.fsm.Read(func(s *engine.State) { k = len(s.Executors) })
	return k
}

// TestPartitionAndHeal replicates the engine state over 3 and 5 nodes,
// cuts the leader off, commits on the majority side (enough to need a
// snapshot), heals, and checks every replica agrees, the old leader's
// write in isolation included.
func TestPartitionAndHeal(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := startMemCluster(t, size)
			l := c.leader(all(size)...)
			for i := 0; i < 10; i++ {
				if err := register(c.nodes[l], fmt.Sprintf("before-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			c.converge()

			c.isolate(l)
			var rest []int
			for i := range c.nodes {
				if i != l {
					rest = append(rest, i)
				}
			}
			// The isolated leader cannot commit.
			if err := register(c.nodes[l], "lost-write"); err == nil {
				t.Fatal("an isolated leader committed a write")
			}
			l2 := c.leader(rest...)
			for i := 0; i < 100; i++ {
				if err := register(c.nodes[l2], fmt.Sprintf("during-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			// Compact the majority's logs: the old leader must catch up
			// from a snapshot.
			for _, i := range rest {
				if err := c.nodes[i].raft.Snapshot().Error(); err != nil {
					t.Fatal(err)
				}
			}
			c.heal(l)
			if err := register(c.nodes[l2], "after"); err != nil {
				t.Fatal(err)
			}
			c.converge()
			if got := executorCount(c.nodes[l]); got != 111 {
				t.Fatalf("old leader has %d executors, want 111", got)
			}
			c.nodes[l].fsm.Read(func(s *engine.State) {
				if s.Executors["lost-write"] != nil {
					t.Fatal("the isolated leader's uncommitted write survived")
				}
			})
			if c.nodes[l].IsLeader() && c.nodes[l2].IsLeader() {
				t.Fatal("two leaders")
			}
		})
	}
}

// TestRestartFromWAL restarts a single node on its raft-wal directory
// and finds the state again.
func TestRestartFromWAL(t *testing.T) {
	dir := t.TempDir()
	start := func() *Node {
		_, tr := raft.NewInmemTransport("n1")
		n, err := Start(Config{ID: "n1", Dir: dir, Transport: tr, Peers: []Peer{{ID: "n1", RaftAddr: "n1"}},
			Timing: fastTiming, Security: Security{Insecure: true}, Logger: quiet(), SnapshotThreshold: 16})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for !n.IsLeader() && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		return n
	}
	n := start()
	for i := 0; i < 40; i++ {
		if err := register(n, fmt.Sprintf("x%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for i := 40; i < 50; i++ {
		if err := register(n, fmt.Sprintf("x%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	want := n.fsm.Index()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = start()
	defer n.Close()
	if err := n.raft.Barrier(time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if got := executorCount(n); got != 50 {
		t.Fatalf("after restart: %d executors, want 50", got)
	}
	if n.fsm.Index() < want {
		t.Fatalf("after restart: index %d, want >= %d", n.fsm.Index(), want)
	}
}
