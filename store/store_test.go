package store_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/store"
	"github.com/celebrity-zones/cz/store/storetest"
)

func TestDirConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Bucket {
		b, err := store.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestS3Conformance(t *testing.T) {
	srv := testenv.StartS3(t)
	storetest.Run(t, func(t *testing.T) store.Bucket {
		o := srv.Options()
		o.PartSize = 5 << 20
		name := "conf-" + sanitize(t.Name())
		b, err := store.OpenS3(context.Background(), name, "root/prefix", o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func sanitize(s string) string {
	out := []byte{}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			out = append(out, c)
		case c >= 'A' && c <= 'Z':
			out = append(out, c+32)
		default:
			out = append(out, '-')
		}
	}
	if len(out) > 50 {
		out = out[len(out)-50:]
	}
	return string(out)
}

func TestS3OpenUploadsAreListedAndAborted(t *testing.T) {
	srv := testenv.StartS3(t)
	b := srv.Bucket(t, "jobs")
	ctx := context.Background()
	name := bucketName(b)
	key := "jobs/attempts/t1/a1/part"
	up, err := b.Client().CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &name, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := b.ListUploads(ctx, "attempts/")
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 1 || ups[0].Key != "attempts/t1/a1/part" || ups[0].ID != *up.UploadId {
		t.Fatalf("ListUploads = %+v, want the one open upload of attempts/t1/a1/part", ups)
	}
	if err := b.AbortUpload(ctx, ups[0]); err != nil {
		t.Fatal(err)
	}
	if ups, _ := b.ListUploads(ctx, "attempts/"); len(ups) != 0 {
		t.Fatalf("uploads after abort = %+v, want none", ups)
	}
}

func bucketName(b *store.S3) string {
	u, _ := url.Parse(b.URL())
	return u.Host
}

// TestS3RetriesTransientErrors puts a proxy in front of versitygw that
// answers the first requests with 503 SlowDown and 500, as S3 does under
// load: the store must retry and succeed.
func TestS3RetriesTransientErrors(t *testing.T) {
	srv := testenv.StartS3(t)
	srv.Bucket(t, "") // warm up, and a bucket to talk to
	target, _ := url.Parse(srv.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var seen, failures atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := seen.Add(1)
		if n%3 != 0 { // two of every three requests fail
			failures.Add(1)
			code, body := http.StatusServiceUnavailable, `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`
			if n%3 == 2 {
				code, body = http.StatusInternalServerError, `<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>`
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(code)
			w.Write([]byte(body))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	ctx := context.Background()
	name := "retry-bucket"
	o := srv.Options()
	direct, _ := store.OpenS3(ctx, name, "", o)
	if _, err := direct.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
	o.Endpoint = front.URL
	o.MaxAttempts = 5
	b, err := store.OpenS3(ctx, name, "", o)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutBytes(ctx, b, "k", []byte("survived")); err != nil {
		t.Fatalf("Put through a flaky server: %v", err)
	}
	got, err := store.ReadAll(ctx, b, "k")
	if err != nil || string(got) != "survived" {
		t.Fatalf("Get through a flaky server = %q, %v", got, err)
	}
	if err := b.PutIfAbsent(ctx, "lock", bytes.NewReader([]byte("1"))); err != nil {
		t.Fatalf("PutIfAbsent through a flaky server: %v", err)
	}
	if failures.Load() < 4 {
		t.Fatalf("the proxy failed %d requests; the test did not exercise retries", failures.Load())
	}
}

func TestOpenURLs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := store.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.URL() != "file://"+dir {
		t.Errorf("URL() = %q, want file://%s", b.URL(), dir)
	}
	s, err := store.Open(ctx, "s3://my-bucket/some/prefix?endpoint=http://127.0.0.1:1&path_style=true")
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() != "s3://my-bucket/some/prefix" {
		t.Errorf("URL() = %q, want s3://my-bucket/some/prefix", s.URL())
	}
	for _, bad := range []string{"/no/scheme", "gs://b/k", "s3:///nobucket", "file://host/path", "s3://b/p?path_style=maybe", "s3://b/p?timeout=soon", "s3://b/p?attempts=0"} {
		if _, err := store.Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", bad)
		}
	}
}

func TestDirSharedBetweenHandlesAgreesOnCreate(t *testing.T) {
	// Two handles on one directory (as two processes would have) race to
	// create the same key: exactly one wins.
	dir := t.TempDir()
	a, _ := store.OpenDir(dir)
	b, _ := store.OpenDir(dir)
	ctx := context.Background()
	errA := a.PutIfAbsent(ctx, "lock", bytes.NewReader([]byte("a")))
	errB := b.PutIfAbsent(ctx, "lock", bytes.NewReader([]byte("b")))
	if errA != nil || !errors.Is(errB, store.ErrExists) {
		t.Fatalf("errA=%v errB=%v, want nil and ErrExists", errA, errB)
	}
}
