package e2e

import (
	"io"
	"net"
	"sync"
)

// Partition cuts TCP links between members on loopback without touching
// the host's network (FACTS.md: no tc, no veth end in the root
// namespace). Each member binds its own loopback address (127.0.0.11, …)
// and dials from it; the others reach it through a Link, a proxy that
// knows which member a connection comes from by its source address. A cut
// pair's connections are closed and new ones are black-holed (accepted,
// never answered), as a dropped network does.
type Partition struct {
	mu    sync.Mutex
	cut   map[[2]string]bool // {from IP, to IP}
	links []*Link
}

// NewPartition returns a network with no cuts.
func NewPartition() *Partition { return &Partition{cut: map[[2]string]bool{}} }

// Link is the proxy in front of one member.
type Link struct {
	p      *Partition
	ip     string // the member's own address
	target string
	ln     net.Listener

	mu    sync.Mutex
	conns map[net.Conn]string // live proxied client conns, by source IP
	held  map[net.Conn]bool   // black-holed conns
	quit  bool
}

// Link starts the proxy in front of the member with address ip, which
// listens on target.
func (p *Partition) Link(ip, target string) (*Link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &Link{p: p, ip: ip, target: target, ln: ln, conns: map[net.Conn]string{}, held: map[net.Conn]bool{}}
	p.mu.Lock()
	p.links = append(p.links, l)
	p.mu.Unlock()
	go l.serve()
	return l, nil
}

// Addr is what the others dial to reach the member.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// Isolate cuts every link between ip and every other member, both ways.
func (p *Partition) Isolate(ip string) {
	p.mu.Lock()
	for _, l := range p.links {
		if l.ip != ip {
			p.cut[[2]string{ip, l.ip}] = true
			p.cut[[2]string{l.ip, ip}] = true
		}
	}
	links := append([]*Link(nil), p.links...)
	p.mu.Unlock()
	for _, l := range links {
		l.enforce()
	}
}

// Heal restores every link.
func (p *Partition) Heal() {
	p.mu.Lock()
	p.cut = map[[2]string]bool{}
	links := append([]*Link(nil), p.links...)
	p.mu.Unlock()
	for _, l := range links {
		l.mu.Lock()
		for c := range l.held {
			c.Close()
		}
		l.held = map[net.Conn]bool{}
		l.mu.Unlock()
	}
}

func (p *Partition) isCut(from, to string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut[[2]string{from, to}]
}

// enforce closes the live connections of pairs that are now cut.
func (l *Link) enforce() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, from := range l.conns {
		if l.p.isCut(from, l.ip) {
			c.Close()
			delete(l.conns, c)
		}
	}
}

// Close stops the proxy and closes every connection through it.
func (l *Link) Close() {
	l.ln.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.quit = true
	for c := range l.conns {
		c.Close()
	}
	for c := range l.held {
		c.Close()
	}
}

func (l *Link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		from, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		go l.handle(c, from)
	}
}

func (l *Link) handle(c net.Conn, from string) {
	l.mu.Lock()
	if l.quit {
		l.mu.Unlock()
		c.Close()
		return
	}
	if l.p.isCut(from, l.ip) {
		l.held[c] = true // black hole: read and drop until healed
		l.mu.Unlock()
		io.Copy(io.Discard, c)
		return
	}
	l.conns[c] = from
	l.mu.Unlock()
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		c.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}
