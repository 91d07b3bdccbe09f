package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/store"
)

// System is the whole system as real processes on loopback: `cz
// coordinator` members (mutual TLS, a token, Raft through a LinkProxy each
// so that a member can be partitioned), `cz executor` processes found by
// gossip, beside the test's versitygw and notification sinks. Processes
// are stopped when the test ends; their logs are printed when it failed.
type System struct {
	t      *testing.T
	Bin    string
	Dir    string
	Certs  string
	Token  string
	Store  string // the engine store URL every process uses
	env    []string
	HTTP   []string // status page address of each coordinator
	APIs   []string
	Client *coordinator.Client

	Coordinators []*Process
	Executors    []*Process
	Net          *Partition
	// Chat and Mail receive the coordinators' job notifications.
	Chat *testenv.WebhookSink
	Mail *testenv.SMTPSink

	gossips  []string
	history  string // the executors' commit history file
	isolated int    // the member a scenario cut off
	killed   string // the executor a scenario killed
}

// SystemOptions shape a System.
type SystemOptions struct {
	Coordinators int // default 3
	// Executors are started at once; more can be added with AddExecutor.
	Executors []ExecutorOptions
	// Store is the engine store URL (attempt outputs, manifests, logs).
	Store string
	// Env is added to every process's environment (S3 credentials).
	Env []string
	// Lease is the executors' lease (default 2s), LeaseGrace what a new
	// leader gives them to come back (default 4s).
	Lease, LeaseGrace time.Duration
	// CoordinatorArgs are added to every coordinator's command line.
	CoordinatorArgs []string
}

// ExecutorOptions shape one executor process.
type ExecutorOptions struct {
	ID   string
	CPUs int      // default 2
	Env  []string // such as CZ_FAULTS=… or TMPDIR=…
	// Blocks serves this executor's shuffle map outputs to the others.
	Blocks bool
	Args   []string // more flags
}

// Process is one child process of a System.
type Process struct {
	Name string
	// Metrics is the URL of its Prometheus metrics.
	Metrics string
	args    []string
	env     []string
	bin     string

	mu   sync.Mutex
	cmd  *exec.Cmd
	log  bytes.Buffer
	done chan struct{}
	logs []string // earlier runs' output, for the failure report
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// czBinary builds cmd/cz once per test binary.
func czBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cz-e2e-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "cz")
		args := []string{"build", "-o", binPath}
		if os.Getenv("CZ_E2E_RACE") != "" {
			args = append(args, "-race") // the processes report data races on stderr
		}
		out, err := exec.Command("go", append(args, "github.com/celebrity-zones/cz/cmd/cz")...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/cz: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// StartSystem starts the coordinators and executors and waits until a
// leader is elected and every executor has registered.
func StartSystem(t *testing.T, ctx context.Context, o SystemOptions) *System {
	t.Helper()
	if o.Coordinators == 0 {
		o.Coordinators = 3
	}
	if o.Lease == 0 {
		o.Lease, o.LeaseGrace = 2*time.Second, 4*time.Second
	}
	s := &System{t: t, Bin: czBinary(t), Dir: t.TempDir(), Token: "e2e-token", Store: o.Store}
	s.Certs = filepath.Join(s.Dir, "certs")
	if err := coordinator.GenerateCerts(s.Certs, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(), "CZ_CA="+filepath.Join(s.Certs, "ca.pem"), "CZ_CERT="+filepath.Join(s.Certs, "node.pem"),
		"CZ_KEY="+filepath.Join(s.Certs, "node-key.pem"), "CZ_TOKEN="+s.Token)
	// Every executor records its AuthorizeCommit calls for CheckCommits.
	s.history = filepath.Join(s.Dir, "commits.jsonl")
	s.env = append(s.env, "CZ_COMMIT_HISTORY="+s.history)
	s.env = append(s.env, o.Env...)
	t.Cleanup(s.stop)
	s.Chat, s.Mail = testenv.StartWebhookSink(t), testenv.StartSMTPSink(t)

	// Member i binds Raft on its own loopback address, so that its
	// outgoing connections carry it, and is reached through a LinkProxy.
	s.Net = NewPartition()
	var peers []string
	binds := make([]string, o.Coordinators)
	for i := range o.Coordinators {
		ip := fmt.Sprintf("127.0.0.%d", 11+i)
		binds[i] = listenAddr(t, ip)
		link, err := s.Net.Link(ip, binds[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(link.Close)
		api := listenAddr(t, "127.0.0.1")
		s.APIs = append(s.APIs, api)
		s.HTTP = append(s.HTTP, listenAddr(t, "127.0.0.1"))
		s.gossips = append(s.gossips, listenAddr(t, "127.0.0.1"))
		peers = append(peers, fmt.Sprintf("c%d=%s=%s", i+1, link.Addr(), api))
	}
	for i := range o.Coordinators {
		args := []string{"coordinator", "--id", fmt.Sprintf("c%d", i+1), "--dir", filepath.Join(s.Dir, fmt.Sprintf("c%d", i+1)),
			"--raft", binds[i], "--raft-advertise", strings.Split(peers[i], "=")[1], "--listen", s.APIs[i],
			"--peers", strings.Join(peers, ","), "--gossip", s.gossips[i], "--seeds", strings.Join(s.gossips, ","),
			"--store", s.Store, "--http", s.HTTP[i], "--lease", o.Lease.String(), "--lease-grace", o.LeaseGrace.String(),
			"--gchat-webhook", s.Chat.URL, "--smtp", s.Mail.Addr, "--mail-to", "zones-team@example.com"}
		args = append(args, o.CoordinatorArgs...)
		p := s.process(fmt.Sprintf("c%d", i+1), args, nil)
		p.Metrics = "http://" + s.HTTP[i] + "/metrics"
		s.Coordinators = append(s.Coordinators, p)
		p.Start(t)
	}
	for _, x := range o.Executors {
		s.AddExecutor(x)
	}
	cl, err := coordinator.Dial(s.APIs, coordinator.Security{CAFile: filepath.Join(s.Certs, "ca.pem"), Token: s.Token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	s.Client = cl
	s.WaitReady(ctx, len(o.Executors))
	return s
}

// StartOnDir starts the system over an engine store in a temporary
// directory and returns that store too.
func StartOnDir(t *testing.T, ctx context.Context, xs ...ExecutorOptions) (store.Bucket, *System) {
	t.Helper()
	dir := t.TempDir()
	work, err := store.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return work, StartSystem(t, ctx, SystemOptions{Store: dir, Executors: xs})
}

// AddExecutor starts one more executor process.
func (s *System) AddExecutor(o ExecutorOptions) *Process {
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	args := []string{"executor", "--id", o.ID, "--seeds", strings.Join(s.gossips, ","),
		"--gossip", listenAddr(s.t, "127.0.0.1"), "--store", s.Store,
		"--cpus", fmt.Sprint(o.CPUs), "--memory-mb", "4096", "--drain-timeout", "5s"}
	if o.Blocks {
		args = append(args, "--blocks", listenAddr(s.t, "127.0.0.1"))
	}
	metrics := listenAddr(s.t, "127.0.0.1")
	args = append(args, "--metrics", metrics)
	p := s.process(o.ID, append(args, o.Args...), o.Env)
	p.Metrics = "http://" + metrics + "/metrics"
	s.Executors = append(s.Executors, p)
	p.Start(s.t)
	return p
}

func (s *System) process(name string, args, env []string) *Process {
	return &Process{Name: name, bin: s.Bin, args: args, env: append(append([]string(nil), s.env...), env...)}
}

// WaitReady waits for a leader that sees executors registered executors.
func (s *System) WaitReady(ctx context.Context, executors int) {
	s.t.Helper()
	for {
		info, err := s.Client.Cluster(ctx)
		if err == nil && info.LeaderId != "" && len(info.Executors) >= executors {
			return
		}
		for _, p := range s.Coordinators {
			if p.Exited() {
				s.t.Fatalf("coordinator %s exited while the system started:\n%s", p.Name, p.Output())
			}
		}
		if ctx.Err() != nil {
			s.t.Fatalf("the system never became ready (a leader and %d executors): %v %v", executors, info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Leader returns the index of the coordinator that leads, as the
// members that answer see it; -1 if none is known before ctx ends.
func (s *System) Leader(ctx context.Context) int {
	for {
		info, err := s.Client.Cluster(ctx)
		if err == nil && info.LeaderId != "" {
			var i int
			if _, err := fmt.Sscanf(info.LeaderId, "c%d", &i); err == nil && i >= 1 && i <= len(s.Coordinators) {
				return i - 1
			}
		}
		if ctx.Err() != nil {
			return -1
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitAnnounced waits until every job was announced on the chat and by
// mail, and returns how many chat messages and mails name each.
func (s *System) WaitAnnounced(ctx context.Context, jobIDs []string) (map[string][2]int, error) {
	for {
		counts := map[string][2]int{}
		for _, id := range jobIDs {
			var c [2]int
			for _, m := range s.Chat.Messages() {
				if text, _ := m["text"].(string); strings.Contains(text, id) {
					c[0]++
				}
			}
			for _, m := range s.Mail.Mails() {
				if strings.Contains(m.Data, id) {
					c[1]++
				}
			}
			counts[id] = c
		}
		missing := ""
		for id, c := range counts {
			if c[0] == 0 || c[1] == 0 {
				missing = id
			}
		}
		if missing == "" {
			return counts, nil
		}
		select {
		case <-ctx.Done():
			return counts, fmt.Errorf("job %s was never announced on both channels (%v)", missing, counts[missing])
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Run submits spec (key: its idempotency key, "" for none) and waits for
// the job to end.
func (s *System) Run(t *testing.T, ctx context.Context, spec engine.JobSpec, key string) *engine.Job {
	t.Helper()
	id, err := s.Client.Submit(ctx, spec, key)
	if err != nil {
		t.Fatalf("submit %s: %v", spec.Name, err)
	}
	return s.Wait(t, ctx, id)
}

// Wait waits for job id to end.
func (s *System) Wait(t *testing.T, ctx context.Context, id string) *engine.Job {
	t.Helper()
	j, err := s.Client.Wait(ctx, id, nil)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	return j
}

// CheckLedger checks what every finished job left in the engine store:
// one committed attempt per task, an event log that moves only forward
// and replays to the finished job whatever the faults, and a
// commit-registry history that porcupine finds linearizable
// (CheckCommits).
func (s *System) CheckLedger(t *testing.T, ctx context.Context, work store.Bucket, finished []*engine.Job) {
	t.Helper()
	for _, j := range finished {
		if err := j.CheckCommittedOnce(-1); j.State == engine.JobSucceeded && err != nil {
			t.Errorf("job %s: %v", j.ID, err)
		}
		if err := checkEventLog(ctx, work, j); err != nil {
			t.Errorf("job %s: event log: %v", j.ID, err)
		}
	}
	if err := CheckCommits(ctx, work, finished, []string{s.history}); err != nil {
		t.Errorf("commit history: %v", err)
	}
}

// CLI runs `cz args... --coordinator …` as an operator would, with the
// cluster's CA and token in the environment, and returns its output.
func (s *System) CLI(t *testing.T, args ...string) string {
	t.Helper()
	c := exec.Command(s.Bin, append(args, "--coordinator", strings.Join(s.APIs, ","))...)
	c.Env = s.env
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("cz %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// StatusPage reads a page of the status page of the leader (or of any
// member that answers).
func (s *System) StatusPage(t *testing.T, path string) string {
	t.Helper()
	order := []int{s.Leader(context.Background())}
	for i := range s.Coordinators {
		order = append(order, i)
	}
	for _, i := range order {
		if i < 0 || s.Coordinators[i].Exited() {
			continue
		}
		resp, err := http.Get("http://" + s.HTTP[i] + path)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return string(body)
		}
	}
	t.Fatalf("no coordinator serves %s", path)
	return ""
}

// MemberView asks coordinator i alone whom it takes for the leader.
func (s *System) MemberView(ctx context.Context, i int) (string, error) {
	cl, err := coordinator.Dial([]string{s.APIs[i]}, coordinator.Security{CAFile: filepath.Join(s.Certs, "ca.pem"), Token: s.Token})
	if err != nil {
		return "", err
	}
	defer cl.Close()
	info, err := cl.Cluster(ctx)
	if err != nil {
		return "", err
	}
	return info.LeaderId, nil
}

func (s *System) stop() {
	all := append(append([]*Process(nil), s.Executors...), s.Coordinators...)
	for _, p := range all {
		p.Kill()
		if strings.Contains(p.Output(), "WARNING: DATA RACE") {
			s.t.Errorf("%s reported a data race (CZ_E2E_RACE build)", p.Name)
		}
	}
	if s.t.Failed() {
		for _, p := range all {
			s.t.Logf("--- %s %v\n%s", p.Name, p.args, p.Output())
		}
	}
}

// Start starts the process (again, after Kill: same arguments, same
// directories).
func (p *Process) Start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log.Len() > 0 {
		p.logs = append(p.logs, p.log.String())
		p.log.Reset()
	}
	c := exec.Command(p.bin, p.args...)
	c.Env = p.env
	c.Stdout, c.Stderr = &lockedWriter{p}, &lockedWriter{p}
	if err := c.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	p.cmd, p.done = c, make(chan struct{})
	go func(done chan struct{}) { c.Wait(); close(done) }(p.done)
}

type lockedWriter struct{ p *Process }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.log.Write(b)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() { p.signal(syscall.SIGKILL) }

// Terminate sends SIGTERM (an executor drains) and waits for the exit.
func (p *Process) Terminate() { p.signal(syscall.SIGTERM) }

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	c, done := p.cmd, p.done
	p.mu.Unlock()
	if c == nil {
		return
	}
	c.Process.Signal(sig)
	<-done
}

// ExitCode is the exit status of the process's last run (-1 while it
// runs or when a signal ended it).
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.ProcessState.ExitCode()
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// Output is everything the process wrote, earlier runs included.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(append(append([]string(nil), p.logs...), p.log.String()), "\n--- restarted ---\n")
}

// WaitLog waits until a line of the current run's output contains want
// and returns it.
func (p *Process) WaitLog(ctx context.Context, want string) (string, error) {
	for {
		p.mu.Lock()
		sc := bufio.NewScanner(bytes.NewReader(bytes.Clone(p.log.Bytes())))
		p.mu.Unlock()
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				return sc.Text(), nil
			}
		}
		if p.Exited() {
			return "", fmt.Errorf("%s exited without logging %q", p.Name, want)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s never logged %q: %w", p.Name, want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Metric reads one unlabelled metric of the process.
func (p *Process) Metric(name string) (float64, error) {
	resp, err := http.Get(p.Metrics)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			var f float64
			_, err := fmt.Sscanf(v, "%g", &f)
			return f, err
		}
	}
	return 0, fmt.Errorf("%s: no metric %s", p.Metrics, name)
}

// Ports for the processes come from below the kernel's ephemeral range,
// so that no socket another process opens on port 0 (the proxies, the
// clients) can take one between the moment it is picked and the moment
// its process binds it.
var (
	portMu   sync.Mutex
	nextPort = 20000 + os.Getpid()%5000
)

// listenAddr returns ip:port with a port free on ip for TCP and UDP (gossip
// uses both) a moment ago, outside the ephemeral range.
func listenAddr(t *testing.T, ip string) string {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 10000 {
		nextPort++
		if nextPort >= 32000 {
			nextPort = 20000
		}
		addr := fmt.Sprintf("%s:%d", ip, nextPort)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return addr
	}
	t.Fatal("no free port between 20000 and 32000")
	return ""
}

// checkEventLog reads a finished job's event log and checks that it moves
// only forward and replays to the job as it finished: the same state and,
// for every task, the same committed attempt and attempt states.
func checkEventLog(ctx context.Context, work store.Bucket, j *engine.Job) error {
	events, err := engine.ReadEventLog(ctx, work, j.ID)
	if err != nil {
		return err
	}
	if err := engine.CheckForward(events); err != nil {
		return err
	}
	r, err := engine.ReplayJob(events)
	if err != nil {
		return err
	}
	if r.State != j.State {
		return fmt.Errorf("replays to %s, the job %s", r.State, j.State)
	}
	for _, st := range j.Stages {
		for _, task := range st.Tasks {
			rt := r.Task(st.Name, task.Partition)
			if rt == nil || rt.Committed != task.Committed || len(rt.Attempts) != len(task.Attempts) {
				return fmt.Errorf("%s/p%d: replays to %v, the job has committed attempt %d of %d", st.Name, task.Partition, rt, task.Committed, len(task.Attempts))
			}
			for i, a := range task.Attempts {
				if rt.Attempts[i].State != a.State {
					return fmt.Errorf("%s/p%d attempt %d: replays to %s, the job has %s", st.Name, task.Partition, a.Num, rt.Attempts[i].State, a.State)
				}
			}
		}
	}
	return nil
}
