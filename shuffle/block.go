package shuffle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Block format. A block is a fixed 28-byte header followed by a payload:
//
//	offset size field
//	0      4    magic "CZSB"
//	4      1    format version (1)
//	5      1    codec (0 none, 1 snappy, 2 zstd)
//	6      1    flags (bit 0: records sorted by key)
//	7      1    reserved, 0
//	8      4    record count
//	12     4    raw (uncompressed) payload length
//	16     4    stored payload length
//	20     4    CRC-32C (Castagnoli) of the stored payload
//	24     4    CRC-32C of header bytes 0..23
//
// All integers are little-endian. The raw payload is the records back to
// back, each uvarint(len(key)) uvarint(len(value)) key value.
const (
	blockMagic   = "CZSB"
	blockVersion = 1
	headerSize   = 28
	flagSorted   = 1
	// maxBlockRaw bounds a block's raw payload so that a corrupt header
	// cannot make a reader allocate gigabytes.
	maxBlockRaw = 64 << 20
)

// Codec is a block compression codec.
type Codec uint8

const (
	None   Codec = 0
	Snappy Codec = 1
	Zstd   Codec = 2
)

func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Snappy:
		return "snappy"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// ParseCodec reads a codec name: none, snappy or zstd.
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "none", "":
		return None, nil
	case "snappy":
		return Snappy, nil
	case "zstd":
		return Zstd, nil
	}
	return 0, fmt.Errorf("codec %q: want none, snappy or zstd", s)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	zstdOnce sync.Once
	zenc     *zstd.Encoder
	zdec     *zstd.Decoder
)

// zstdCodec returns the shared encoder and decoder; EncodeAll and
// DecodeAll are safe for concurrent use.
func zstdCodec() (*zstd.Encoder, *zstd.Decoder) {
	zstdOnce.Do(func() {
		var err error
		zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err)
		}
		zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxBlockRaw))
		if err != nil {
			panic(err)
		}
	})
	return zenc, zdec
}

// blockHeader is a decoded header.
type blockHeader struct {
	codec      Codec
	flags      uint8
	records    uint32
	rawLen     uint32
	payloadLen uint32
	crc        uint32
}

// appendBlock encodes raw (records back to back, count of them) as one
// block with codec and appends it to dst.
func appendBlock(dst, raw []byte, count int, codec Codec, sorted bool) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	switch codec {
	case Snappy:
		n := s2.MaxEncodedLen(len(raw))
		dst = grow(dst, n)
		enc := s2.EncodeSnappy(dst[len(dst):len(dst)+n], raw)
		dst = dst[:len(dst)+len(enc)]
	case Zstd:
		enc, _ := zstdCodec()
		dst = enc.EncodeAll(raw, dst)
	default:
		codec = None
		dst = append(dst, raw...)
	}
	putHeader(dst[start:start+headerSize], dst[start+headerSize:], len(raw), count, codec, sorted)
	return dst
}

// maxEncodedLen bounds the stored size of n raw bytes with codec.
func maxEncodedLen(codec Codec, n int) int {
	switch codec {
	case Snappy:
		return s2.MaxEncodedLen(n)
	case Zstd:
		return n + n/128 + 1024 // ZSTD_COMPRESSBOUND is n + n/256 + a little
	}
	return n
}

// putHeader fills h with the header of a block whose stored payload is
// payload.
func putHeader(h, payload []byte, rawLen, count int, codec Codec, sorted bool) {
	copy(h, blockMagic)
	h[4] = blockVersion
	h[5] = byte(codec)
	h[6] = 0
	if sorted {
		h[6] = flagSorted
	}
	h[7] = 0
	binary.LittleEndian.PutUint32(h[8:], uint32(count))
	binary.LittleEndian.PutUint32(h[12:], uint32(rawLen))
	binary.LittleEndian.PutUint32(h[16:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[20:], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(h[24:], crc32.Checksum(h[:24], castagnoli))
}

// bufPools recycle block and segment buffers by size class: capacities
// are rounded up to one of four steps per power of two (at most 25% more
// than asked), so buffers of similar sizes are reused.
var bufPools sync.Map // class size -> *sync.Pool

func sizeClass(n int) int {
	if n <= 64 {
		return 64
	}
	g := 1 << max(bits.Len(uint(n-1))-3, 0)
	return (n + g - 1) / g * g
}

// getBuf returns an empty buffer with room for at least n bytes.
func getBuf(n int) []byte {
	c := sizeClass(n)
	if p, ok := bufPools.Load(c); ok {
		if b, ok := p.(*sync.Pool).Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, c)
}

// putBuf recycles a buffer that getBuf returned.
func putBuf(b []byte) {
	c := cap(b)
	if c < 64 || sizeClass(c) != c {
		return // not one of ours
	}
	p, ok := bufPools.Load(c)
	if !ok {
		p, _ = bufPools.LoadOrStore(c, new(sync.Pool))
	}
	b = b[:0]
	p.(*sync.Pool).Put(&b)
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}

// BlockError says which block of which segment is bad and why.
type BlockError struct {
	// Source names the segment: map stage, partition and reducer.
	Source string
	// Block is the block's number within the segment, Offset its byte
	// offset there.
	Block  int
	Offset int64
	Err    error
}

func (e *BlockError) Error() string {
	return fmt.Sprintf("shuffle block %d at offset %d of %s: %v", e.Block, e.Offset, e.Source, e.Err)
}
func (e *BlockError) Unwrap() error { return e.Err }

// ErrChecksum is wrapped by BlockErrors for a checksum mismatch.
var ErrChecksum = errors.New("checksum mismatch")

func parseHeader(h []byte) (blockHeader, error) {
	if string(h[:4]) != blockMagic {
		return blockHeader{}, fmt.Errorf("bad magic %q, want %q", h[:4], blockMagic)
	}
	if got, want := binary.LittleEndian.Uint32(h[24:]), crc32.Checksum(h[:24], castagnoli); got != want {
		return blockHeader{}, fmt.Errorf("header %w (stored %08x, computed %08x)", ErrChecksum, got, want)
	}
	if h[4] != blockVersion {
		return blockHeader{}, fmt.Errorf("format version %d, this reader knows %d", h[4], blockVersion)
	}
	bh := blockHeader{
		codec: Codec(h[5]), flags: h[6],
		records:    binary.LittleEndian.Uint32(h[8:]),
		rawLen:     binary.LittleEndian.Uint32(h[12:]),
		payloadLen: binary.LittleEndian.Uint32(h[16:]),
		crc:        binary.LittleEndian.Uint32(h[20:]),
	}
	if bh.codec > Zstd {
		return bh, fmt.Errorf("unknown codec %d", bh.codec)
	}
	if bh.rawLen > maxBlockRaw || bh.payloadLen > maxBlockRaw+maxBlockRaw/8 {
		return bh, fmt.Errorf("block of %d raw / %d stored bytes exceeds the %d-byte limit", bh.rawLen, bh.payloadLen, maxBlockRaw)
	}
	return bh, nil
}

// blockReader reads the blocks of one segment and decodes their records.
type blockReader struct {
	r      io.Reader
	source string
	// verified: the payload checksums were checked already (verifySegment).
	verified bool
	n        int   // blocks read
	off      int64 // offset of the next block
	hdr      [headerSize]byte
	stored   []byte
	raw      []byte
}

// next reads and verifies the next block, returning its raw payload (valid
// until the next call) and record count, or io.EOF at the segment's end.
func (br *blockReader) next() ([]byte, int, error) {
	if _, err := io.ReadFull(br.r, br.hdr[:]); err != nil {
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, br.fail(fmt.Errorf("reading header: %w", err))
	}
	h, err := parseHeader(br.hdr[:])
	if err != nil {
		return nil, 0, br.fail(err)
	}
	if cap(br.stored) < int(h.payloadLen) {
		br.stored = make([]byte, h.payloadLen)
	}
	stored := br.stored[:h.payloadLen]
	if _, err := io.ReadFull(br.r, stored); err != nil {
		return nil, 0, br.fail(fmt.Errorf("reading %d-byte payload: %w", h.payloadLen, noEOF(err)))
	}
	if !br.verified && crc32.Checksum(stored, castagnoli) != h.crc {
		got := crc32.Checksum(stored, castagnoli)
		return nil, 0, br.fail(fmt.Errorf("payload %w (stored %08x, computed %08x)", ErrChecksum, h.crc, got))
	}
	raw, err := decodePayload(br.raw[:0], stored, h)
	if err != nil {
		return nil, 0, br.fail(err)
	}
	if h.codec != None {
		br.raw = raw
	}
	br.off += headerSize + int64(h.payloadLen)
	br.n++
	return raw, int(h.records), nil
}

func (br *blockReader) fail(err error) error {
	return &BlockError{Source: br.source, Block: br.n, Offset: br.off, Err: err}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func decodePayload(dst, stored []byte, h blockHeader) ([]byte, error) {
	var raw []byte
	var err error
	switch h.codec {
	case None:
		raw = stored
	case Snappy:
		n, derr := s2.DecodedLen(stored)
		if derr != nil {
			return nil, fmt.Errorf("snappy: %w", derr)
		}
		if n != int(h.rawLen) {
			return nil, fmt.Errorf("snappy payload decodes to %d bytes, header says %d", n, h.rawLen)
		}
		if cap(dst) < n {
			dst = make([]byte, n)
		}
		raw, err = s2.Decode(dst[:n], stored)
	case Zstd:
		_, dec := zstdCodec()
		raw, err = dec.DecodeAll(stored, dst[:0])
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.codec, err)
	}
	if len(raw) != int(h.rawLen) {
		return nil, fmt.Errorf("payload decodes to %d bytes, header says %d", len(raw), h.rawLen)
	}
	return raw, nil
}

// appendRecord appends one record in block encoding.
func appendRecord(dst, key, value []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	dst = append(dst, key...)
	return append(dst, value...)
}

// recordLen is the encoded size of a record.
func recordLen(key, value []byte) int {
	return uvarintLen(len(key)) + uvarintLen(len(value)) + len(key) + len(value)
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// readRecord decodes the record at the start of p and returns it and the
// rest of p.
func readRecord(p []byte) (key, value, rest []byte, err error) {
	kl, n := binary.Uvarint(p)
	if n <= 0 {
		return nil, nil, nil, errors.New("bad key length")
	}
	p = p[n:]
	vl, n := binary.Uvarint(p)
	if n <= 0 {
		return nil, nil, nil, errors.New("bad value length")
	}
	p = p[n:]
	if kl > uint64(len(p)) || vl > uint64(len(p))-kl {
		return nil, nil, nil, fmt.Errorf("record of %d+%d bytes overruns the block (%d left)", kl, vl, len(p))
	}
	return p[:kl:kl], p[kl : kl+vl : kl+vl], p[kl+vl:], nil
}

func crc32c(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }
