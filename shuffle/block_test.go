package shuffle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestBlockRoundTripsEveryCodec(t *testing.T) {
	for _, codec := range []Codec{None, Snappy, Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			var raw []byte
			for i := 0; i < 1000; i++ {
				raw = appendRecord(raw, []byte(fmt.Sprintf("key-%04d", i)), bytes.Repeat([]byte{byte(i)}, i%50))
			}
			var seg []byte
			seg = appendBlock(seg, raw, 1000, codec, true)
			seg = appendBlock(seg, raw[:0], 0, codec, false)
			if codec != None && len(seg) >= len(raw) {
				t.Errorf("%s block is %d bytes for %d raw: not compressed", codec, len(seg), len(raw))
			}
			br := blockReader{r: bytes.NewReader(seg), source: "test"}
			got, n, err := br.next()
			if err != nil || n != 1000 || !bytes.Equal(got, raw) {
				t.Fatalf("block 0: %d records, equal=%v, err %v", n, bytes.Equal(got, raw), err)
			}
			k, v, _, err := readRecord(got)
			if err != nil || string(k) != "key-0000" || len(v) != 0 {
				t.Fatalf("first record %q %q %v", k, v, err)
			}
			if _, n, err := br.next(); err != nil || n != 0 {
				t.Fatalf("empty block: %d records, %v", n, err)
			}
			if _, _, err := br.next(); err != io.EOF {
				t.Fatalf("after the last block: %v, want EOF", err)
			}
		})
	}
}

func TestCorruptBlockIsNamed(t *testing.T) {
	raw := appendRecord(nil, []byte("k"), []byte("some value"))
	seg := appendBlock(nil, raw, 1, Snappy, false)
	second := len(seg)
	seg = appendBlock(seg, raw, 1, Snappy, false)
	for _, tc := range []struct {
		name  string
		at    int
		want  string
		isCRC bool
	}{
		{"payload", second + headerSize + 2, "payload checksum mismatch", true},
		{"header", second + 9, "header checksum mismatch", true},
		{"magic", second, "bad magic", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(seg)
			bad[tc.at] ^= 0x40
			br := blockReader{r: bytes.NewReader(bad), source: "segment 3 of map output m/p7"}
			if _, _, err := br.next(); err != nil {
				t.Fatalf("block 0 is intact: %v", err)
			}
			_, _, err := br.next()
			var be *BlockError
			if !errors.As(err, &be) || be.Block != 1 || be.Offset != int64(second) {
				t.Fatalf("err %v, want a BlockError for block 1 at %d", err, second)
			}
			if !strings.Contains(err.Error(), "map output m/p7") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name the segment and %q", err, tc.want)
			}
			if errors.Is(err, ErrChecksum) != tc.isCRC {
				t.Fatalf("errors.Is(ErrChecksum) = %v", !tc.isCRC)
			}
			if verr := verifySegment(bad, "s"); verr == nil {
				t.Fatal("verifySegment accepted a corrupt segment")
			}
		})
	}
	br := blockReader{r: bytes.NewReader(seg[:len(seg)-3]), source: "s"}
	br.next()
	if _, _, err := br.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated block: %v, want unexpected EOF", err)
	}
}

func TestRangePartitionerOrdersKeys(t *testing.T) {
	p, err := Range([][]byte{[]byte("g"), []byte("p")})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{"": 0, "a": 0, "f": 0, "g": 1, "h": 1, "p": 2, "z": 2} {
		if got := p.Partition([]byte(key)); got != want {
			t.Errorf("Partition(%q) = %d, want %d", key, got, want)
		}
	}
	if _, err := Range([][]byte{[]byte("b"), []byte("a")}); err == nil {
		t.Fatal("Range accepted decreasing splits")
	}
}

func TestHashPartitionerSpreadsKeys(t *testing.T) {
	h := Hash(8)
	counts := make([]int, 8)
	for i := 0; i < 80000; i++ {
		counts[h.Partition([]byte(fmt.Sprint(i)))]++
	}
	for p, c := range counts {
		if c < 9000 || c > 11000 {
			t.Errorf("partition %d got %d of 80000 keys, want about 10000", p, c)
		}
	}
}
