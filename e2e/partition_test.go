package e2e

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoOn listens on ip and echoes each line back.
func echoOn(t *testing.T, ip string) string {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					c.Write(append(sc.Bytes(), '\n'))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dialFrom connects from source ip to addr and says "ping"; it reports
// whether the echo came back within a second.
func dialFrom(t *testing.T, ip, addr string) (net.Conn, bool) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c, ping(c)
}

func ping(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

// TestPartitionCutsByMember: a Link passes a member's traffic until that
// member is isolated, then closes its connections and black-holes new
// ones, leaves a third member's traffic alone, and passes again once
// healed.
func TestPartitionCutsByMember(t *testing.T) {
	p := NewPartition()
	a, err := p.Link("127.0.0.11", echoOn(t, "127.0.0.11"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := p.Link("127.0.0.12", echoOn(t, "127.0.0.12"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p.Link("127.0.0.13", echoOn(t, "127.0.0.13"))

	live, ok := dialFrom(t, "127.0.0.12", a.Addr())
	if !ok {
		t.Fatal("no echo through the link before any cut")
	}
	p.Isolate("127.0.0.11")
	if ping(live) {
		t.Fatal("a connection into the isolated member still works")
	}
	if _, ok := dialFrom(t, "127.0.0.12", a.Addr()); ok {
		t.Fatal("a new connection into the isolated member was answered")
	}
	if _, ok := dialFrom(t, "127.0.0.11", b.Addr()); ok {
		t.Fatal("a new connection out of the isolated member was answered")
	}
	if _, ok := dialFrom(t, "127.0.0.13", b.Addr()); !ok {
		t.Fatal("traffic between the other members was cut")
	}
	p.Heal()
	if _, ok := dialFrom(t, "127.0.0.12", a.Addr()); !ok {
		t.Fatal("no echo after healing")
	}
}
