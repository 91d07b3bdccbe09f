package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"google.golang.org/grpc"

	"github.com/celebrity-zones/cz/store"
)

// LocalCluster is a group of coordinators in this process on loopback,
// each with its real Raft TCP transport (mutual TLS unless insecure),
// raft-wal directory, gRPC server and gossip member: for tests and
// `cz bench raft`.
type LocalCluster struct {
	Nodes    []*Node
	Servers  []*grpc.Server
	Gossip   []*Gossip
	APIAddrs []string
	killed   []bool
	configs  []Config
}

// LoopbackTiming suits a cluster on one machine's loopback (tests, local
// trials): elections in a few hundred milliseconds, executor leases that
// expire after two seconds with a four-second grace after a new leader.
var LoopbackTiming = Timing{
	Heartbeat: 150 * time.Millisecond, Election: 150 * time.Millisecond, LeaderLease: 100 * time.Millisecond,
	Commit: 2 * time.Millisecond, LeaseTTL: 2 * time.Second, LeaseGrace: 4 * time.Second, ApplyTimeout: 3 * time.Second,
}

// StartLocalCluster starts size coordinators under dir. Each configure
// function adjusts every node's Config before it starts (a notifier, the
// autoscaler).
func StartLocalCluster(dir string, size int, sec Security, bucket store.Bucket, timing Timing, logger *slog.Logger, configure ...func(*Config)) (*LocalCluster, error) {
	if logger == nil {
		logger = slog.Default()
	}
	var peers []Peer
	var lns []net.Listener
	for i := 0; i < size; i++ {
		raftAddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		peers = append(peers, Peer{ID: fmt.Sprintf("c%d", i+1), RaftAddr: raftAddr, APIAddr: ln.Addr().String()})
	}
	c := &LocalCluster{killed: make([]bool, size)}
	for i, p := range peers {
		cfg := Config{ID: p.ID, Dir: filepath.Join(dir, p.ID), RaftBind: p.RaftAddr, Peers: peers, APIAddr: p.APIAddr,
			Security: sec, Bucket: bucket, Timing: timing, Logger: logger}
		for _, f := range configure {
			f(&cfg)
		}
		c.configs = append(c.configs, cfg)
		c.Nodes, c.Servers, c.Gossip = append(c.Nodes, nil), append(c.Servers, nil), append(c.Gossip, nil)
		c.APIAddrs = append(c.APIAddrs, p.APIAddr)
		if err := c.start(i, lns[i]); err != nil {
			c.Close()
			for _, ln := range lns[i+1:] {
				ln.Close()
			}
			return nil, err
		}
	}
	return c, nil
}

// start runs node i on its directory and addresses.
func (c *LocalCluster) start(i int, ln net.Listener) error {
	cfg := c.configs[i]
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.APIAddr); err != nil {
			return err
		}
	}
	n, err := Start(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	srv, err := n.GRPCServer()
	if err != nil {
		ln.Close()
		n.Close()
		return err
	}
	go srv.Serve(ln)
	var seeds []string
	for j, g := range c.Gossip {
		if j != i && g != nil && !c.killed[j] {
			seeds = append(seeds, g.Addr())
		}
	}
	g, err := JoinGossip("127.0.0.1:0", Meta{Role: "coordinator", ID: cfg.ID, API: cfg.APIAddr}, seeds, cfg.Logger)
	if err != nil {
		srv.Stop()
		n.Close()
		return err
	}
	n.AttachGossip(g)
	c.Nodes[i], c.Servers[i], c.Gossip[i], c.killed[i] = n, srv, g, false
	return nil
}

// Restart starts killed node i again on its Raft log and addresses.
func (c *LocalCluster) Restart(i int) error {
	if !c.killed[i] {
		return fmt.Errorf("node %d is running", i)
	}
	return c.start(i, nil)
}

// freeAddr finds a free loopback port (Raft's peers must be known
// before the transports start).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Leader returns the index of the node whose leader machinery runs, or -1.
func (c *LocalCluster) Leader() int {
	for i, n := range c.Nodes {
		if !c.killed[i] && n.IsLeader() {
			return i
		}
	}
	return -1
}

// WaitLeader waits for a node to lead and its machinery to run.
func (c *LocalCluster) WaitLeader(ctx context.Context) (int, error) {
	for {
		if i := c.Leader(); i >= 0 {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no leader: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Seeds are the gossip addresses of the live coordinators.
func (c *LocalCluster) Seeds() []string {
	var out []string
	for i, g := range c.Gossip {
		if !c.killed[i] {
			out = append(out, g.Addr())
		}
	}
	return out
}

// Kill stops node i at once: its server, Raft and gossip.
func (c *LocalCluster) Kill(i int) {
	if c.killed[i] || c.Nodes[i] == nil {
		return
	}
	c.killed[i] = true
	c.Servers[i].Stop()
	c.Nodes[i].Close()
}

// Close stops every node.
func (c *LocalCluster) Close() {
	for i := range c.Nodes {
		c.Kill(i)
	}
}
