package executor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/coordinator"
	"github.com/celebrity-zones/cz/shuffle"
)

// TestServeBlocks fetches segments of a map output from another
// executor's block server over mutual TLS: bytes intact across chunks,
// NOT_FOUND as shuffle.ErrBlockNotFound, and no fetch without the
// cluster certificate.
func TestServeBlocks(t *testing.T) {
	certs := t.TempDir()
	if err := coordinator.GenerateCerts(certs, []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	sec := coordinator.Files(certs, "")
	lb, err := shuffle.OpenLocalBlocks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*chunkSize/16+7) // more than 3 chunks
	segs := [][]byte{[]byte("first"), big, []byte("last")}
	if _, err := lb.Write("j/s/p0/a1/out", func(w io.Writer) (*shuffle.Index, error) {
		idx := &shuffle.Index{Version: 1, Offsets: []int64{0}}
		for _, s := range segs {
			w.Write(s)
			idx.Offsets = append(idx.Offsets, idx.Offsets[len(idx.Offsets)-1]+int64(len(s)))
			idx.Records = append(idx.Records, 1)
		}
		return idx, nil
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := ServeBlocks(ln, lb, sec)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	srv, err := BlockDialer(sec)("grpc://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for r, want := range segs {
		rc, err := srv.OpenSegment(ctx, "j/s/p0/a1/out", r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("segment %d: %d bytes, %v; want %d bytes", r, len(got), err, len(want))
		}
	}
	if _, err := srv.OpenSegment(ctx, "j/s/p9/a1/out", 0); !errors.Is(err, shuffle.ErrBlockNotFound) {
		t.Fatalf("missing block: %v, want ErrBlockNotFound", err)
	}
	stranger, err := BlockDialer(coordinator.Security{CAFile: sec.CAFile})("grpc://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := stranger.OpenSegment(ctx, "j/s/p0/a1/out", 0); err == nil {
		rc.Close()
		t.Fatal("fetched a block without the cluster certificate")
	}
}
