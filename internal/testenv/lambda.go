package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BuildLambda builds cmd/czlambda as the provided.al2023 `bootstrap`
// (linux/amd64, no RPC) and returns its path.
func BuildLambda(t testing.TB) string {
	t.Helper()
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bootstrap, "./cmd/czlambda")
	build.Dir = RepoRoot()
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}
	return bootstrap
}

// Lambda is a function bootstrap running under the Lambda runtime
// interface emulator (installed by `make deps`), which speaks the real
// Runtime API to it.
type Lambda struct {
	addr string
	logs *LockedBuffer
}

// StartLambda runs bootstrap under the emulator on loopback, with env
// added to this process's environment, until the test ends.
func StartLambda(t testing.TB, bootstrap string, env []string) *Lambda {
	t.Helper()
	rie := Path(t, "bin/aws-lambda-rie")
	l := &Lambda{addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), logs: &LockedBuffer{}}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", l.addr,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", FreePort(t)), bootstrap)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = l.logs, l.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", l.logs.String())
		}
	})
	WaitListening(t, l.addr)
	return l
}

// Invoke delivers one event and returns the function's answer: its one
// result, or the error object. The emulator answers 200 even when the
// function fails (the body tells), and takes one invocation at a time.
func (l *Lambda) Invoke(t testing.TB, payload []byte) map[string]any {
	t.Helper()
	resp, err := http.Post("http://"+l.addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("emulator answered %s: %s", resp.Status, body)
	}
	var out any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if m, ok := out.(map[string]any); ok {
		return m
	}
	rs, _ := out.([]any)
	if len(rs) != 1 {
		t.Fatalf("body %s, want one result", body)
	}
	m, _ := rs[0].(map[string]any)
	return m
}

// Logs is what the emulator and the function wrote so far.
func (l *Lambda) Logs() string { return l.logs.String() }

// LockedBuffer is a bytes.Buffer a test may read while a process writes.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitListening waits up to 20 s for something to accept on addr.
func WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
