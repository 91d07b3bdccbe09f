package coordinator

import (
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Meta is what a cluster member tells the others through gossip.
type Meta struct {
	Role string `json:"role"` // "coordinator" or "executor"
	ID   string `json:"id"`
	// API is a coordinator's gRPC address.
	API      string `json:"api,omitempty"`
	CPU      int    `json:"cpu,omitempty"`
	GPU      int    `json:"gpu,omitempty"`
	MemoryMB int64  `json:"memory_mb,omitempty"`
}

// Gossip is a memberlist membership: coordinators and executors join it
// from seed addresses, and executors find the coordinators' APIs in it.
type Gossip struct {
	ml        *memberlist.Memberlist
	meta      []byte
	done      chan struct{}
	closeOnce sync.Once
}

type metaDelegate struct{ meta []byte }

func (d metaDelegate) NodeMeta(limit int) []byte                  { return d.meta }
func (d metaDelegate) NotifyMsg([]byte)                           {}
func (d metaDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d metaDelegate) LocalState(join bool) []byte                { return nil }
func (d metaDelegate) MergeRemoteState(buf []byte, join bool)     {}

// JoinGossip starts a memberlist member on bind ("127.0.0.1:0" picks a
// port) and joins the seeds (none: it starts a new membership).
func JoinGossip(bind string, me Meta, seeds []string, logger *slog.Logger) (*Gossip, error) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", bind, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", bind, err)
	}
	meta, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	c := memberlist.DefaultLANConfig()
	c.Name = me.Role + "-" + me.ID
	c.BindAddr, c.BindPort, c.AdvertisePort = host, p, p
	c.Delegate = metaDelegate{meta: meta}
	if logger == nil {
		logger = slog.Default()
	}
	c.Logger = log.New(slogWriter{logger.With("gossip", c.Name)}, "", 0)
	ml, err := memberlist.Create(c)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	g := &Gossip{ml: ml, meta: meta, done: make(chan struct{})}
	if len(seeds) > 0 {
		if _, err := ml.Join(seeds); err != nil {
			// The seeds may not be up yet: keep trying in the background.
			logger.Info("gossip: seeds not reachable yet, retrying", "seeds", seeds, "err", err)
			go g.rejoin(seeds, logger)
		}
	}
	return g, nil
}

func (g *Gossip) rejoin(seeds []string, logger *slog.Logger) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-t.C:
		}
		if _, err := g.ml.Join(seeds); err == nil {
			logger.Info("gossip: joined", "seeds", seeds)
			return
		}
	}
}

// Addr is the member's gossip address (a seed for others).
func (g *Gossip) Addr() string {
	n := g.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Members returns the live members' metadata.
func (g *Gossip) Members() []Meta {
	var out []Meta
	for _, m := range g.ml.Members() {
		var meta Meta
		if json.Unmarshal(m.Meta, &meta) == nil {
			out = append(out, meta)
		}
	}
	return out
}

// Coordinators returns the coordinators' API addresses.
func (g *Gossip) Coordinators() []string {
	var out []string
	for _, m := range g.Members() {
		if m.Role == "coordinator" && m.API != "" {
			out = append(out, m.API)
		}
	}
	return out
}

// Close leaves the membership.
func (g *Gossip) Close() error {
	var err error
	g.closeOnce.Do(func() {
		close(g.done)
		g.ml.Leave(0)
		err = g.ml.Shutdown()
	})
	return err
}

// AttachGossip lets the node learn peers' API addresses from gossip (and
// closes the gossip with the node).
func (n *Node) AttachGossip(g *Gossip) {
	n.mu.Lock()
	n.gossip = g
	n.mu.Unlock()
}

func (n *Node) gossipAPI(id string) string {
	n.mu.Lock()
	g := n.gossip
	n.mu.Unlock()
	if g == nil {
		return ""
	}
	for _, m := range g.Members() {
		if m.Role == "coordinator" && m.ID == id {
			return m.API
		}
	}
	return ""
}
