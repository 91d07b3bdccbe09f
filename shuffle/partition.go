package shuffle

import (
	"bytes"
	"fmt"
	"math/bits"
	"sort"

	"github.com/cespare/xxhash/v2"
)

// Partitioner assigns a key to one of N reduce partitions.
type Partitioner interface {
	// Partitions is N.
	Partitions() int
	// Partition returns the key's partition, in [0, N).
	Partition(key []byte) int
}

// Hash spreads keys over n partitions by their xxhash64.
func Hash(n int) Partitioner { return hashPartitioner(n) }

type hashPartitioner int

func (h hashPartitioner) Partitions() int { return int(h) }
func (h hashPartitioner) Partition(key []byte) int {
	// Multiply-shift maps the 64-bit hash onto [0, n) without a division.
	hi, _ := bits.Mul64(xxhash.Sum64(key), uint64(h))
	return int(hi)
}

// Range partitions keys by sorted split points: partition i holds the keys
// k with splits[i-1] <= k < splits[i] (bytewise), so len(splits)+1
// partitions in key order. The splits must be strictly increasing.
func Range(splits [][]byte) (Partitioner, error) {
	for i := 1; i < len(splits); i++ {
		if bytes.Compare(splits[i-1], splits[i]) >= 0 {
			return nil, fmt.Errorf("range splits %d and %d (%q, %q) are not strictly increasing", i-1, i, splits[i-1], splits[i])
		}
	}
	return rangePartitioner(splits), nil
}

type rangePartitioner [][]byte

func (r rangePartitioner) Partitions() int { return len(r) + 1 }
func (r rangePartitioner) Partition(key []byte) int {
	return sort.Search(len(r), func(i int) bool { return bytes.Compare(key, r[i]) < 0 })
}
