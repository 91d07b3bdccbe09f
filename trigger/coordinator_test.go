package trigger

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
)

// cluster is a running coordinator group: three Raft nodes on loopback
// with their gRPC servers, mutual TLS and a client token. It has no
// executors: submitted jobs wait, and the tests look at what arrived.
type cluster struct {
	*coordinator.LocalCluster
	certs string // ca.pem, node.pem, node-key.pem
	token string
}

func startCluster(t *testing.T, token string) *cluster {
	t.Helper()
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := coordinator.GenerateCerts(certs, []string{"127.0.0.1", "localhost"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := coordinator.StartLocalCluster(filepath.Join(dir, "raft"), 3, coordinator.Files(certs, token), mustDir(t), coordinator.DefaultTiming, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return &cluster{LocalCluster: c, certs: certs, token: token}
}

func (c *cluster) caPEM(t *testing.T) []byte {
	data, err := os.ReadFile(filepath.Join(c.certs, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCoordinatorsOverGRPC submits through the client the Lambda uses
// (DialCoordinators) to a running three-node coordinator group.
func TestCoordinatorsOverGRPC(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t, "s3cret")
	// The first address refuses connections: the client moves on.
	dead := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	addrs := append([]string{dead}, c.APIAddrs...)
	sub, err := DialCoordinators(Config{Coordinators: addrs, Token: "s3cret", CAPEM: c.caPEM(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	spec := jobs.DailySpec(day, jobs.Config{Buckets: layout.Local(t.TempDir())})
	id, err := sub.Submit(ctx, spec, "eventbridge/abc")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := sub.Submit(ctx, spec, "eventbridge/abc")
	if err != nil || id2 != id {
		t.Errorf("resubmission with the same key: %q, %v; want %q", id2, err, id)
	}
	// Followers serve reads from their replica: poll until it caught up.
	eventually(t, "the job to be readable", func() bool {
		j, err := sub.Job(ctx, id)
		return err == nil && j.Spec.Name == "daily-runner-2026-11-01"
	})

	// A wrong token is refused.
	bad, _ := DialCoordinators(Config{Coordinators: c.APIAddrs, Token: "wrong", CAPEM: c.caPEM(t)})
	defer bad.Close()
	if _, err := bad.Submit(ctx, spec, "eventbridge/def"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong token: %v, want Unauthenticated", err)
	}
	// A client that does not trust the cluster's CA gets nowhere.
	other := t.TempDir()
	coordinator.GenerateCerts(other, []string{"127.0.0.1"}, time.Hour)
	otherCA, _ := os.ReadFile(filepath.Join(other, "ca.pem"))
	untrusting, _ := DialCoordinators(Config{Coordinators: c.APIAddrs[:1], Token: "s3cret", CAPEM: otherCA})
	defer untrusting.Close()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := untrusting.Submit(sctx, spec, "eventbridge/ghi"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted server certificate: %v", err)
	}
	if _, err := DialCoordinators(Config{Coordinators: c.APIAddrs, CAPEM: []byte("not PEM")}); err == nil {
		t.Error("dialled with a CA that is not PEM")
	}
	for _, n := range c.Nodes {
		if js := n.View().Jobs(); len(js) > 1 {
			t.Errorf("coordinator %s holds %d jobs after refused submissions, want 1", n.ID(), len(js))
		}
	}
}
