package ann_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/celebrity-zones/cz/ann"
	"github.com/celebrity-zones/cz/store"
)

func TestPublishLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs := faces(t, 3000, 48, 30)
	for _, kind := range []ann.Kind{ann.Exact, ann.Partitioned} {
		prefix := "scann/kind" + string(rune('0'+kind))
		x := ann.New(48, ann.Cosine, ann.WithKind(kind), ann.WithModel("test-model"))
		x.Add(fs.Items...)
		x.Delete(10, 11)
		v1, err := ann.Publish(ctx, b, prefix, x)
		if err != nil || v1 != "v1" {
			t.Fatalf("publish: %q %v", v1, err)
		}
		y, v, err := ann.LoadLatest(ctx, b, prefix, ann.ExpectModel("test-model"), ann.ExpectDim(48))
		if err != nil || v != "v1" {
			t.Fatalf("load latest: %q %v", v, err)
		}
		if y.Len() != x.Len() || y.IsPartitioned() != x.IsPartitioned() {
			t.Fatalf("loaded %d items partitioned=%v, want %d %v", y.Len(), y.IsPartitioned(), x.Len(), x.IsPartitioned())
		}
		for i, q := range fs.Queries {
			if a, b := x.Search(q, 10), y.Search(q, 10); !slices.Equal(a, b) {
				t.Fatalf("kind %d query %d: loaded index returns %v, original %v", kind, i, b, a)
			}
		}
		// A second version moves latest.
		y.Add(fs.Items[10])
		v2, err := ann.Publish(ctx, b, prefix, y)
		if err != nil || v2 != "v2" {
			t.Fatalf("second publish: %q %v", v2, err)
		}
		z, v, err := ann.LoadLatest(ctx, b, prefix)
		if err != nil || v != "v2" || z.Len() != x.Len()+1 {
			t.Fatalf("latest after v2: %q len %d err %v", v, z.Len(), err)
		}
		old, err := ann.Load(ctx, b, prefix, "v1")
		if err != nil || old.Len() != x.Len() {
			t.Fatalf("v1 after v2: %v", err)
		}
	}
}

func TestLoadRejectsBadIndexes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := store.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fs := faces(t, 600, 16, 0)
	x := ann.New(16, ann.Euclidean, ann.WithKind(ann.Partitioned), ann.WithPartitions(8))
	x.Add(fs.Items...)
	if _, err := ann.Publish(ctx, b, "scann/m", x); err != nil {
		t.Fatal(err)
	}
	read := func(key string) []byte {
		data, err := store.ReadAll(ctx, b, key)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	manifest, items, model := read("scann/m/v1/manifest.json"), read("scann/m/v1/items.bin"), read("scann/m/v1/model.bin")
	put := func(key string, data []byte) {
		if err := store.PutBytes(ctx, b, key, data); err != nil {
			t.Fatal(err)
		}
	}
	restore := func() {
		put("scann/m/v1/manifest.json", manifest)
		put("scann/m/v1/items.bin", items)
		put("scann/m/v1/model.bin", model)
	}
	editManifest := func(f func(m map[string]any)) {
		var m map[string]any
		json.Unmarshal(manifest, &m)
		f(m)
		data, _ := json.Marshal(m)
		put("scann/m/v1/manifest.json", data)
	}
	cases := []struct {
		name   string
		break_ func()
		want   string
		opts   []ann.LoadOption
	}{
		{"corrupt items", func() {
			c := slices.Clone(items)
			c[len(c)/2] ^= 1
			put("scann/m/v1/items.bin", c)
		}, "sha256", nil},
		{"truncated model", func() { put("scann/m/v1/model.bin", model[:len(model)-10]) }, "truncated", nil},
		{"format", func() { editManifest(func(m map[string]any) { m["format"] = 2 }) }, "field format", nil},
		{"dim mismatch", func() { editManifest(func(m map[string]any) { m["dim"] = 17 }) }, "dim", nil},
		{"count mismatch", func() { editManifest(func(m map[string]any) { m["count"] = 5 }) }, "count", nil},
		{"metric", func() { editManifest(func(m map[string]any) { m["metric"] = "hamming" }) }, "metric", nil},
		{"unknown field", func() { editManifest(func(m map[string]any) { m["extra"] = 1 }) }, "unknown field", nil},
		{"not json", func() { put("scann/m/v1/manifest.json", []byte("{")) }, "bad manifest", nil},
		{"expected model", func() {}, `expected "other"`, []ann.LoadOption{ann.ExpectModel("other")}},
		{"expected dim", func() {}, "expected 512", []ann.LoadOption{ann.ExpectDim(512)}},
		{"missing file", func() { b.Delete(ctx, "scann/m/v1/model.bin") }, "model.bin", nil},
		{"latest garbage", func() { put("scann/m/latest", []byte("banana")) }, "not a version", nil},
	}
	for _, c := range cases {
		restore()
		put("scann/m/latest", []byte("v1\n"))
		if _, _, err := ann.LoadLatest(ctx, b, "scann/m"); err != nil {
			t.Fatalf("%s: intact index fails: %v", c.name, err)
		}
		c.break_()
		_, _, err := ann.LoadLatest(ctx, b, "scann/m", c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestPublishDoesNotMoveLatestBackwards(t *testing.T) {
	ctx := context.Background()
	b, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	x := ann.New(4, ann.Cosine)
	x.Add(ann.Item{ID: 1, Vector: []float32{1, 2, 3, 4}})
	if _, err := ann.Publish(ctx, b, "scann/p", x); err != nil {
		t.Fatal(err)
	}
	// Another publisher already made v7 latest.
	store.PutBytes(ctx, b, "scann/p/latest", []byte("v7\n"))
	store.PutBytes(ctx, b, "scann/p/v7/manifest.json", []byte("{}"))
	v, err := ann.Publish(ctx, b, "scann/p", x)
	if v != "v8" || err != nil {
		t.Fatalf("publish after v7: %q %v", v, err)
	}
	store.PutBytes(ctx, b, "scann/p/latest", []byte("v99\n"))
	if _, err := ann.Publish(ctx, b, "scann/p", x); !errors.Is(err, ann.ErrSuperseded) {
		t.Fatalf("publish under a later latest: %v, want ErrSuperseded", err)
	}
}
