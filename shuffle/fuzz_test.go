package shuffle

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzSegment feeds arbitrary bytes to the block decoder: it must return
// records or a BlockError, never panic or allocate without bound.
func FuzzSegment(f *testing.F) {
	raw := appendRecord(appendRecord(nil, []byte("a"), []byte("1")), []byte("b"), nil)
	for _, c := range []Codec{None, Snappy, Zstd} {
		f.Add(appendBlock(nil, raw, 2, c, true))
	}
	f.Add(appendBlock(appendBlock(nil, raw, 2, None, false), raw, 2, Snappy, false))
	f.Fuzz(func(t *testing.T, seg []byte) {
		verr := verifySegment(seg, "fuzz")
		br := blockReader{r: bytes.NewReader(seg), source: "fuzz"}
		var derr error
		for derr == nil {
			var block []byte
			var n int
			block, n, derr = br.next()
			for i := 0; derr == nil && i < n; i++ {
				_, _, block, derr = readRecord(block)
			}
		}
		if derr == io.EOF {
			derr = nil
		}
		var be *BlockError
		if verr != nil && !errors.As(verr, &be) {
			t.Fatalf("verifySegment returned %T, want *BlockError: %v", verr, verr)
		}
		if verr != nil && derr == nil {
			t.Fatalf("verifySegment rejected a segment the decoder accepted: %v", verr)
		}
	})
}
