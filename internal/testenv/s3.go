package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/celebrity-zones/cz/store"
)

// S3Server is a real versitygw S3 gateway serving a temporary directory on
// 127.0.0.1, started for one test and stopped when it ends.
type S3Server struct {
	Endpoint             string
	AccessKey, SecretKey string
	Dir                  string
	cmd                  *exec.Cmd
}

// StartS3 starts versitygw (installed by `make deps`) on a free loopback port.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	bin := Path(t, "bin/versitygw")
	dir := t.TempDir()
	port := FreePort(t)
	s := &S3Server{
		Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
		AccessKey: "cz-test-access",
		SecretKey: "cz-test-secret-key",
		Dir:       dir,
	}
	cmd := exec.Command(bin, "--port", fmt.Sprintf("127.0.0.1:%d", port), "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	logf, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	s.cmd = cmd
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	// Ready when it answers HTTP at all (an unsigned GET gets 403).
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint)
		if err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("versitygw did not start on %s: %v\n%s", s.Endpoint, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var bucketSeq atomic.Int64

// Bucket creates a fresh bucket on the server and opens it as a store.Bucket
// rooted at prefix ("" for the bucket's top).
func (s *S3Server) Bucket(t testing.TB, prefix string) *store.S3 {
	t.Helper()
	name := fmt.Sprintf("cz-test-%d-%d", os.Getpid(), bucketSeq.Add(1))
	return s.Open(t, name, prefix, true)
}

// Open opens bucket name (creating it when create is set) as a store.Bucket.
func (s *S3Server) Open(t testing.TB, name, prefix string, create bool) *store.S3 {
	t.Helper()
	ctx := context.Background()
	b, err := store.OpenS3(ctx, name, prefix, s.Options())
	if err != nil {
		t.Fatal(err)
	}
	if create {
		if _, err := b.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
			t.Fatalf("create bucket %s: %v", name, err)
		}
	}
	return b
}

// Options are the store options that reach this server.
func (s *S3Server) Options() store.S3Options {
	return store.S3Options{Endpoint: s.Endpoint, PathStyle: true, AccessKey: s.AccessKey, SecretKey: s.SecretKey, MaxAttempts: 3}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
