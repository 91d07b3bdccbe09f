// Package storetest is the conformance suite every store.Bucket
// implementation must pass: the local directory, S3 against versitygw, and
// whatever comes next.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"sync"
	"testing"

	"github.com/celebrity-zones/cz/store"
)

// Run runs the suite. open returns a fresh, empty bucket.
func Run(t *testing.T, open func(t *testing.T) store.Bucket) {
	cases := []struct {
		name string
		fn   func(*testing.T, store.Bucket)
	}{
		{"PutGet", testPutGet},
		{"Missing", testMissing},
		{"Range", testRange},
		{"StatAndETag", testStat},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"PutIfMatch", testPutIfMatch},
		{"Delete", testDelete},
		{"ListPrefixDelimiter", testList},
		{"ListPaging", testListPaging},
		{"Large", testLarge},
		{"BadKeys", testBadKeys},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func put(t *testing.T, b store.Bucket, key, body string) {
	t.Helper()
	if err := store.PutBytes(ctx, b, key, []byte(body)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, b store.Bucket, key string) string {
	t.Helper()
	data, err := store.ReadAll(ctx, b, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(data)
}

func testPutGet(t *testing.T, b store.Bucket) {
	put(t, b, "a/b/c.txt", "first")
	if got := get(t, b, "a/b/c.txt"); got != "first" {
		t.Fatalf("Get after Put = %q, want %q", got, "first")
	}
	put(t, b, "a/b/c.txt", "second, longer")
	if got := get(t, b, "a/b/c.txt"); got != "second, longer" {
		t.Fatalf("Get after overwrite = %q, want %q", got, "second, longer")
	}
	put(t, b, "empty", "")
	if got := get(t, b, "empty"); got != "" {
		t.Fatalf("empty object read back as %q", got)
	}
}

func testMissing(t *testing.T, b store.Bucket) {
	if _, err := b.Get(ctx, "nope/x"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Get of a missing key: err = %v, want ErrNotExist", err)
	}
	if _, err := b.Stat(ctx, "nope/x"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Stat of a missing key: err = %v, want ErrNotExist", err)
	}
	put(t, b, "dir/file", "x")
	if _, err := b.Get(ctx, "dir"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Get of a key that is only a prefix: err = %v, want ErrNotExist", err)
	}
}

func testRange(t *testing.T, b store.Bucket) {
	put(t, b, "r", "0123456789")
	for _, c := range []struct {
		off, n int64
		want   string
	}{{0, 3, "012"}, {4, 2, "45"}, {7, -1, "789"}, {0, -1, "0123456789"}, {5, 0, ""}} {
		r, err := b.GetRange(ctx, "r", c.off, c.n)
		if err != nil {
			t.Fatalf("GetRange(%d,%d): %v", c.off, c.n, err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if string(got) != c.want {
			t.Errorf("GetRange(%d,%d) = %q, want %q", c.off, c.n, got, c.want)
		}
	}
}

func testStat(t *testing.T, b store.Bucket) {
	put(t, b, "s", "hello")
	o1, err := b.Stat(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if o1.Size != 5 || o1.ETag == "" || o1.Key != "s" {
		t.Fatalf("Stat = %+v, want key s, size 5 and an ETag", o1)
	}
	put(t, b, "s", "world")
	o2, _ := b.Stat(ctx, "s")
	if o2.ETag == o1.ETag {
		t.Fatalf("ETag %q did not change when the content changed", o1.ETag)
	}
	l, err := b.List(ctx, "s", "")
	if err != nil || len(l.Objects) != 1 || l.Objects[0].ETag != o2.ETag {
		t.Fatalf("List ETag = %+v (err %v), want the Stat ETag %q", l.Objects, err, o2.ETag)
	}
}

func testPutIfAbsent(t *testing.T, b store.Bucket) {
	if err := b.PutIfAbsent(ctx, "lock/x", bytes.NewReader([]byte("owner-1"))); err != nil {
		t.Fatalf("first PutIfAbsent: %v", err)
	}
	err := b.PutIfAbsent(ctx, "lock/x", bytes.NewReader([]byte("owner-2")))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second PutIfAbsent: err = %v, want ErrExists", err)
	}
	if got := get(t, b, "lock/x"); got != "owner-1" {
		t.Fatalf("content after a refused PutIfAbsent = %q, want owner-1", got)
	}
}

func testPutIfAbsentRace(t *testing.T, b store.Bucket) {
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []int
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.PutIfAbsent(ctx, "commit", bytes.NewReader([]byte(fmt.Sprint(i))))
			if err == nil {
				mu.Lock()
				winners = append(winners, i)
				mu.Unlock()
			} else if !errors.Is(err, store.ErrExists) {
				t.Errorf("writer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d writers won the create race (%v), want exactly 1", len(winners), winners)
	}
	if got := get(t, b, "commit"); got != fmt.Sprint(winners[0]) {
		t.Fatalf("content = %q, want the winner's %d", got, winners[0])
	}
}

func testPutIfMatch(t *testing.T, b store.Bucket) {
	put(t, b, "latest", "v1")
	o, _ := b.Stat(ctx, "latest")
	if err := b.PutIfMatch(ctx, "latest", o.ETag, bytes.NewReader([]byte("v2"))); err != nil {
		t.Fatalf("PutIfMatch with the current ETag: %v", err)
	}
	err := b.PutIfMatch(ctx, "latest", o.ETag, bytes.NewReader([]byte("v3")))
	if !errors.Is(err, store.ErrPrecondition) {
		t.Fatalf("PutIfMatch with a stale ETag: err = %v, want ErrPrecondition", err)
	}
	if got := get(t, b, "latest"); got != "v2" {
		t.Fatalf("content = %q, want v2", got)
	}
	err = b.PutIfMatch(ctx, "absent", o.ETag, bytes.NewReader([]byte("x")))
	if !errors.Is(err, store.ErrPrecondition) && !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("PutIfMatch on a missing key: err = %v, want ErrPrecondition or ErrNotExist", err)
	}
}

func testDelete(t *testing.T, b store.Bucket) {
	put(t, b, "d/x", "1")
	if err := b.Delete(ctx, "d/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "d/x"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Stat after Delete: err = %v, want ErrNotExist", err)
	}
	if err := b.Delete(ctx, "d/x"); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
	if l, _ := b.List(ctx, "d/", "/"); len(l.Objects)+len(l.Prefixes) != 0 {
		t.Fatalf("List after Delete = %+v, want nothing", l)
	}
}

func testList(t *testing.T, b store.Bucket) {
	for _, k := range []string{"p/a.json", "p/b/1.jpg", "p/b/2.jpg", "p/c/x/y", "p.other", "q/z"} {
		put(t, b, k, k)
	}
	l, err := b.List(ctx, "p/", "/")
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(l.Objects); fmt.Sprint(got) != "[p/a.json]" {
		t.Errorf("List(p/, /) objects = %v, want [p/a.json]", got)
	}
	if fmt.Sprint(l.Prefixes) != "[p/b/ p/c/]" {
		t.Errorf("List(p/, /) prefixes = %v, want [p/b/ p/c/]", l.Prefixes)
	}
	l, _ = b.List(ctx, "p", "")
	if got := keys(l.Objects); fmt.Sprint(got) != "[p.other p/a.json p/b/1.jpg p/b/2.jpg p/c/x/y]" {
		t.Errorf("List(p) = %v, want every key starting with p, sorted", got)
	}
	l, _ = b.List(ctx, "p/b/", "")
	if got := keys(l.Objects); fmt.Sprint(got) != "[p/b/1.jpg p/b/2.jpg]" {
		t.Errorf("List(p/b/) = %v", got)
	}
	l, _ = b.List(ctx, "", "/")
	if fmt.Sprint(keys(l.Objects)) != "[p.other]" || fmt.Sprint(l.Prefixes) != "[p/ q/]" {
		t.Errorf("List('', /) = %v %v, want [p.other] [p/ q/]", keys(l.Objects), l.Prefixes)
	}
}

func testListPaging(t *testing.T, b store.Bucket) {
	// More than one S3 page (1000 keys).
	const n = 1030
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := store.PutBytes(ctx, b, fmt.Sprintf("many/%05d", i), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	l, err := b.List(ctx, "many/", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Objects) != n {
		t.Fatalf("listed %d objects, want %d", len(l.Objects), n)
	}
	for i, o := range l.Objects {
		if o.Key != fmt.Sprintf("many/%05d", i) {
			t.Fatalf("object %d is %q: listing not sorted or not complete", i, o.Key)
		}
	}
}

func testLarge(t *testing.T, b store.Bucket) {
	// Larger than a multipart part (5 MiB minimum on S3).
	data := make([]byte, 11<<20+12345)
	rand.New(rand.NewSource(1)).Read(data)
	if err := b.Put(ctx, "big/blob", bytes.NewReader(data)); err != nil {
		t.Fatalf("Put of %d bytes: %v", len(data), err)
	}
	got, err := store.ReadAll(ctx, b, "big/blob")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("large object read back differs (%d bytes, want %d)", len(got), len(data))
	}
	r, err := b.GetRange(ctx, "big/blob", 6<<20, 100)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(part, data[6<<20:6<<20+100]) {
		t.Fatal("ranged read across a part boundary differs")
	}
	ups, err := b.ListUploads(ctx, "big/")
	if err != nil || len(ups) != 0 {
		t.Fatalf("open uploads after a finished Put = %v (err %v), want none", ups, err)
	}
}

func testBadKeys(t *testing.T, b store.Bucket) {
	for _, k := range []string{"", "/abs", "dir/", "a//b", "a/../b", "./a"} {
		if err := store.PutBytes(ctx, b, k, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded, want an error naming the bad key", k)
		}
	}
}

func keys(objs []store.Object) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return ks
}
