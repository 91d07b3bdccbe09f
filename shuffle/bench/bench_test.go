package bench

import (
	"context"
	"testing"

	"github.com/celebrity-zones/cz/shuffle"
)

// The benchmark job itself, at a few MiB: every record arrives (Cz checks
// the reducers' counts against what the maps wrote).
func TestCzShuffleSmall(t *testing.T) {
	for _, tc := range []struct {
		place     shuffle.Placement
		inProcess bool
	}{{shuffle.Durable, false}, {shuffle.Served, false}, {shuffle.Served, true}} {
		r, err := Cz(context.Background(), t.TempDir(), tc.place, tc.inProcess, Options{Bytes: 4 << 20, Maps: 4, Partitions: 3, Codec: shuffle.Snappy})
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(4<<20) / recSize / 4 * 4 * recSize; r.Bytes != want {
			t.Fatalf("%s shuffled %d bytes, want %d", r.System, r.Bytes, want)
		}
	}
}
