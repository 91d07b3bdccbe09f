package coordinator

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// accepted dials ln through s and returns the address the listener saw
// the connection come from (after a TLS handshake when asked).
func accepted(t *testing.T, s *tlsStream, ln net.Listener, handshake bool) net.Addr {
	t.Helper()
	got := make(chan net.Conn, 1)
	errs := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errs <- err
			return
		}
		if tc, ok := c.(*tls.Conn); ok && handshake {
			if err := tc.Handshake(); err != nil {
				errs <- err
				return
			}
		}
		got <- c
	}()
	c, err := s.Dial(raftAddress(ln.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tc, ok := c.(*tls.Conn); ok && handshake {
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS handshake from %s: %v", c.LocalAddr(), err)
		}
	}
	select {
	case sc := <-got:
		defer sc.Close()
		return sc.RemoteAddr()
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
	return nil
}

func remoteIP(t *testing.T, a net.Addr) string {
	t.Helper()
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return host
}

// TestRaftDialsLeaveFromTheBindIP: a Raft stream bound to 127.0.0.12
// dials from 127.0.0.12, so a proxy in front of its peers sees one source
// address per member; one bound to every interface lets the kernel
// choose.
func TestRaftDialsLeaveFromTheBindIP(t *testing.T) {
	s, err := newTLSStream("127.0.0.12:0", nil, Security{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ip := remoteIP(t, accepted(t, s, ln, false)); ip != "127.0.0.12" {
		t.Fatalf("the connection came from %s, want the bind IP 127.0.0.12", ip)
	}

	wild, err := newTLSStream("0.0.0.0:0", nil, Security{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer wild.Close()
	if ip := remoteIP(t, accepted(t, wild, ln, false)); ip != "127.0.0.1" {
		t.Fatalf("bound to every interface, the connection came from %s, want the kernel's choice 127.0.0.1", ip)
	}
}

// TestRaftTLSDialsLeaveFromTheBindIP: with mutual TLS the dial still
// leaves from the bind IP and the server name checked is the peer's host.
func TestRaftTLSDialsLeaveFromTheBindIP(t *testing.T) {
	dir := t.TempDir()
	if err := GenerateCerts(dir, []string{"127.0.0.12", "127.0.0.13"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	sec := Files(dir, "token")
	a, err := newTLSStream("127.0.0.12:0", nil, sec)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := newTLSStream("127.0.0.13:0", nil, sec)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ip := remoteIP(t, accepted(t, a, b, true)); ip != "127.0.0.12" {
		t.Fatalf("the TLS connection came from %s, want the bind IP 127.0.0.12", ip)
	}
}
