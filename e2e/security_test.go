package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/celebrity-zones/cz/coordinator"
)

// TestSecurityOnTheSystem: on the system as processes, the Client API
// refuses a caller without the token or with a wrong one, and an executor
// whose certificate another CA signed, or that has none, never joins: it
// says why in its log and the leader does not list it. (That the status
// pages show no secret is checked after every fault scenario; that
// Terraform's IAM grants no wildcard action on the internal bucket, in
// package terraform.)
func TestSecurityOnTheSystem(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := StartSystem(t, ctx, SystemOptions{Store: t.TempDir(), Executors: []ExecutorOptions{{ID: "x1"}}})
	ca := filepath.Join(s.Certs, "ca.pem")
	for _, token := range []string{"", "not-the-token"} {
		cl, err := coordinator.Dial(s.APIs, coordinator.Security{CAFile: ca, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Jobs(ctx); status.Code(err) != codes.Unauthenticated {
			t.Errorf("ListJobs with token %q: %v, want Unauthenticated", token, err)
		}
		cl.Close()
	}
	if _, err := s.Client.Jobs(ctx); err != nil {
		t.Fatalf("ListJobs with the token: %v", err)
	}

	other := filepath.Join(s.Dir, "other-ca")
	if err := coordinator.GenerateCerts(other, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	foreign := s.AddExecutor(ExecutorOptions{ID: "intruder", Env: []string{"CZ_CA=" + filepath.Join(other, "ca.pem"),
		"CZ_CERT=" + filepath.Join(other, "node.pem"), "CZ_KEY=" + filepath.Join(other, "node-key.pem")}})
	plain := s.AddExecutor(ExecutorOptions{ID: "plain", Args: []string{"--insecure"}})
	for _, x := range []*Process{foreign, plain} {
		line, err := x.WaitLog(ctx, "cannot register with the leader")
		if err != nil {
			t.Fatalf("%s: %v\n%s", x.Name, err, x.Output())
		}
		if x == foreign && !strings.Contains(line, "certificate") {
			t.Errorf("%s cannot register, but its log does not say it is the certificate: %s", x.Name, line)
		}
	}
	// Without certificate files an executor does not start at all.
	bare := s.AddExecutor(ExecutorOptions{ID: "bare", Env: []string{"CZ_CERT=", "CZ_KEY="}})
	if _, err := bare.WaitLog(ctx, "mutual TLS needs --ca, --cert and --key"); err != nil {
		t.Errorf("an executor without a certificate: %v\n%s", err, bare.Output())
	}
	info, err := s.Client.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range info.Executors {
		if e == "intruder" || e == "plain" || e == "bare" {
			t.Errorf("executor %s joined without the cluster certificate", e)
		}
	}
}
