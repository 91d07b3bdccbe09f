package scaling

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Local is an Autoscaler of executor processes on this machine: it starts
// Command (such as `cz executor --join 127.0.0.1:7946`) until Desired run,
// and stops the newest ones with SIGTERM (the executor drains), then
// SIGKILL after Grace. A process that exits by itself is replaced at the
// next Capacity or SetDesired. Each process gets CZ_EXECUTOR_ID=local-N
// in its environment and its output in LogDir/local-N.log.
type Local struct {
	Command []string
	Env     []string
	LogDir  string
	Grace   time.Duration
	Log     *slog.Logger

	mu      sync.Mutex
	desired int
	seq     int
	procs   []*proc // running, oldest first
	stops   sync.WaitGroup
}

type proc struct {
	id   string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Capacity implements Autoscaler.
func (l *Local) Capacity(ctx context.Context) (Capacity, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.reconcile()
	return Capacity{Desired: l.desired, Running: len(l.procs)}, err
}

// SetDesired implements Autoscaler.
func (l *Local) SetDesired(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("local executors: %d is not a count", n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.desired = n
	return l.reconcile()
}

// IDs returns the running executors' ids, oldest first.
func (l *Local) IDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reap()
	ids := make([]string, len(l.procs))
	for i, p := range l.procs {
		ids[i] = p.id
	}
	return ids
}

// Close stops every process and waits for them.
func (l *Local) Close() error {
	err := l.SetDesired(context.Background(), 0)
	l.stops.Wait()
	return err
}

func (l *Local) reap() {
	live := l.procs[:0]
	for _, p := range l.procs {
		select {
		case <-p.done:
			if l.Log != nil {
				l.Log.Warn("executor exited", "id", p.id, "err", p.err)
			}
		default:
			live = append(live, p)
		}
	}
	l.procs = live
}

func (l *Local) reconcile() error {
	l.reap()
	for len(l.procs) < l.desired {
		p, err := l.start()
		if err != nil {
			return err
		}
		l.procs = append(l.procs, p)
	}
	for len(l.procs) > l.desired {
		p := l.procs[len(l.procs)-1]
		l.procs = l.procs[:len(l.procs)-1]
		l.stop(p)
	}
	return nil
}

func (l *Local) start() (*proc, error) {
	if len(l.Command) == 0 {
		return nil, fmt.Errorf("local executors: no command")
	}
	l.seq++
	id := fmt.Sprintf("local-%d", l.seq)
	cmd := exec.Command(l.Command[0], l.Command[1:]...)
	cmd.Env = append(append(os.Environ(), l.Env...), "CZ_EXECUTOR_ID="+id)
	// Its own process group: a stop reaches its children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logf *os.File
	if l.LogDir != "" {
		f, err := os.Create(filepath.Join(l.LogDir, id+".log"))
		if err != nil {
			return nil, err
		}
		logf = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		if logf != nil {
			logf.Close()
		}
		return nil, fmt.Errorf("start executor %s (%v): %w", id, l.Command, err)
	}
	p := &proc{id: id, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		close(p.done)
	}()
	if l.Log != nil {
		l.Log.Info("executor started", "id", id, "pid", cmd.Process.Pid)
	}
	return p, nil
}

func (l *Local) stop(p *proc) {
	grace := l.Grace
	if grace == 0 {
		grace = 30 * time.Second
	}
	l.stops.Add(1)
	go func() {
		defer l.stops.Done()
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if l.Log != nil {
			l.Log.Info("executor stopped", "id", p.id, "err", p.err)
		}
	}()
}
