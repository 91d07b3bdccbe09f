package executor_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/sample"
	"github.com/celebrity-zones/cz/store"
)

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestProcesses runs the real binary: 3 `cz coordinator` and 2 `cz
// executor` processes on loopback with mutual TLS and a token; `cz submit`
// sends a job, the leader process is SIGKILLed mid-job, the job finishes
// with the right answer, `cz status` shows it; then the new-zone batch and
// daily runners, submitted with `cz submit`, run over buckets on a real
// versitygw and match the embedded engine's predictions; and the
// executors drain on SIGTERM.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the cz binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cz")
	build := exec.Command("go", "build", "-o", bin, "github.com/celebrity-zones/cz/cmd/cz")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	certs := filepath.Join(dir, "certs")
	if out, err := exec.Command(bin, "certs", "--dir", certs).CombinedOutput(); err != nil {
		t.Fatalf("cz certs: %v\n%s", err, out)
	}
	// Every process reaches the runners' buckets on a real S3 gateway.
	s3 := testenv.StartS3(t)
	s3env := map[string]string{"CZ_S3_ENDPOINT": s3.Endpoint, "CZ_S3_PATH_STYLE": "true", "CZ_S3_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": s3.AccessKey, "AWS_SECRET_ACCESS_KEY": s3.SecretKey}
	env := append(os.Environ(), "CZ_CA="+filepath.Join(certs, "ca.pem"), "CZ_CERT="+filepath.Join(certs, "node.pem"),
		"CZ_KEY="+filepath.Join(certs, "node-key.pem"), "CZ_TOKEN=proc-token")
	for k, v := range s3env {
		t.Setenv(k, v)
		env = append(env, k+"="+v)
	}
	storeDir := filepath.Join(dir, "store")
	os.MkdirAll(storeDir, 0o755)

	type proc struct {
		cmd *exec.Cmd
		out *bytes.Buffer
	}
	var procs []*proc
	startProc := func(args ...string) *proc {
		c := exec.Command(bin, args...)
		c.Env = env
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: c, out: &out}
		procs = append(procs, p)
		return p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			for i, p := range procs {
				t.Logf("process %d %v:\n%s", i, p.cmd.Args[1:3], p.out.String())
			}
		}
	})

	var peers, apis, gossips []string
	for i := 1; i <= 3; i++ {
		raft, api := freePort(t), freePort(t)
		peers = append(peers, fmt.Sprintf("c%d=%s=%s", i, raft, api))
		apis = append(apis, api)
		gossips = append(gossips, freePort(t))
	}
	coords := map[string]*proc{}
	for i := 1; i <= 3; i++ {
		raft := strings.Split(peers[i-1], "=")[1]
		args := []string{"coordinator", "--id", fmt.Sprintf("c%d", i), "--dir", filepath.Join(dir, fmt.Sprintf("c%d", i)),
			"--raft", raft, "--listen", apis[i-1], "--peers", strings.Join(peers, ","), "--gossip", gossips[i-1],
			"--store", storeDir, "--lease", "2s", "--lease-grace", "4s"}
		if i > 1 {
			args = append(args, "--seeds", gossips[0])
		}
		coords[fmt.Sprintf("c%d", i)] = startProc(args...)
	}
	for i := 1; i <= 2; i++ {
		startProc("executor", "--id", fmt.Sprintf("x%d", i), "--seeds", strings.Join(gossips, ","), "--gossip", freePort(t),
			"--store", storeDir, "--cpus", "2", "--memory-mb", "1024", "--drain-timeout", "10s")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := coordinator.Dial(apis, coordinator.Security{CAFile: filepath.Join(certs, "ca.pem"), Token: "proc-token"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		info, err := cl.Cluster(ctx)
		if err == nil && info.LeaderId != "" && len(info.Executors) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("cluster not ready: %v %v", info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	spec := `{"version": 1, "name": "processes", "params": {"n": "10"}, "max_attempts": 2, "stages": [
	  {"name": "nums", "operator": "test.numbers", "partitions": 8, "resources": {"cpu": 1}},
	  {"name": "slow", "operator": "test.sleep", "partitions": 8, "upstream": ["nums"], "resources": {"cpu": 1}, "params": {"sleep": "400ms"}},
	  {"name": "total", "operator": "test.sum", "partitions": 1, "upstream": ["nums", "slow"], "resources": {"cpu": 1}, "params": {"from": "nums"}}]}`
	specFile := filepath.Join(dir, "spec.json")
	os.WriteFile(specFile, []byte(spec), 0o644)
	sub := exec.Command(bin, "submit", "spec", specFile, "--coordinator", strings.Join(apis, ","), "--idempotency-key", "proc-1")
	sub.Env = env
	out, err := sub.Output()
	if err != nil {
		t.Fatalf("cz submit: %v", err)
	}
	id := strings.TrimSpace(string(out))

	// SIGKILL the leader while the slow stage runs.
	for {
		j, err := cl.Job(ctx, id)
		if err == nil && running("slow", 1)(j) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("slow stage never ran: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	info, err := cl.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	coords[info.LeaderId].cmd.Process.Kill()

	j, err := cl.Wait(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != engine.JobSucceeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	b, err := store.OpenDir(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := store.ReadAll(ctx, b, j.Task("total", 0).Outputs[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != "3160" {
		t.Fatalf("sum %s, want 3160", got)
	}
	after, err := cl.Cluster(ctx)
	if err != nil || after.LeaderId == info.LeaderId || after.Term <= info.Term {
		t.Fatalf("after the kill: %v %v (before: leader %s term %d)", after, err, info.LeaderId, info.Term)
	}

	st := exec.Command(bin, "status", "--coordinator", strings.Join(apis, ","))
	st.Env = env
	out, err = st.CombinedOutput()
	if err != nil || !strings.Contains(string(out), id) || !strings.Contains(string(out), "succeeded") {
		t.Fatalf("cz status: %v\n%s", err, out)
	}

	// The runners, submitted with the CLI to the processes, give the same
	// predictions as the embedded engine on the same sample.
	runnersOnProcesses(t, ctx, bin, env, apis, s3)

	// Executors drain on SIGTERM and exit cleanly.
	for _, p := range procs[3:] {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs[3:] {
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("executor after SIGTERM: %v\n%s", err, p.out.String())
		}
	}
}

// runnersOnProcesses runs the new-zone batch and the daily runner on the
// process cluster over versitygw buckets, and compares the day's
// predicted rows with the embedded engine's over the same sample.
func runnersOnProcesses(t *testing.T, ctx context.Context, bin string, env, apis []string, s3 *testenv.S3Server) {
	t.Helper()
	photos, err := sample.LoadPhotos(testenv.Path(t, "dlib"))
	if err != nil {
		t.Fatal(err)
	}
	opt := sample.Options{Seed: 61, Days: 1, VideosPerDay: 4}
	cfg := jobs.Config{Partitions: 2, Buckets: layout.Config{
		External: s3.Bucket(t, "").URL(), Internal: s3.Bucket(t, "").URL(), Content: s3.Bucket(t, "").URL()}}
	b, err := layout.Open(ctx, cfg.Buckets)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := sample.Generate(ctx, b, photos, opt)
	if err != nil {
		t.Fatal(err)
	}
	buckets := []string{"--external", cfg.Buckets.External, "--internal", cfg.Buckets.Internal, "--content", cfg.Buckets.Content,
		"--partitions", "2", "--coordinator", strings.Join(apis, ","), "--wait"}
	for _, args := range [][]string{{"submit", "batch", "--batch", ans.Batches[0].Batch}, {"submit", "daily", "--date", ans.Days[0]}} {
		sub := exec.CommandContext(ctx, bin, append(args, buckets...)...)
		sub.Env = env
		if out, err := sub.CombinedOutput(); err != nil {
			t.Fatalf("cz %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	day, _ := contracts.ParseDate(ans.Days[0])
	data, err := store.ReadAll(ctx, b.External, layout.PredictedDaily(day))
	if err != nil {
		t.Fatal(err)
	}
	got, err := contracts.ParsePredicted("cluster", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].JobID = ""
	}

	want := embeddedPredictions(t, ctx, photos, opt)
	if !slices.Equal(got, want) {
		t.Fatalf("the process cluster's predictions differ from the embedded engine's:\ncluster %+v\nlocal   %+v", got, want)
	}
}
