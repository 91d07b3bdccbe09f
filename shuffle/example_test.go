package shuffle_test

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/celebrity-zones/cz/shuffle"
)

// bytesFetcher serves segments of map outputs held in memory; in a job,
// shuffle.NewTaskReader fetches from the store or the map's executor.
type bytesFetcher map[int][]byte

func (f bytesFetcher) Fetch(ctx context.Context, m shuffle.MapOutput, reduce int) (io.ReadCloser, error) {
	off, n := m.Index.Segment(reduce)
	return io.NopCloser(bytes.NewReader(f[m.Partition][off : off+n])), nil
}

// Two map tasks partition words into two sorted, compressed segments each;
// reducer 0 merges its segments in key order. In an operator,
// shuffle.WriteTask(ctx, t, "words", w, shuffle.Auto) replaces Finish and
// shuffle.NewTaskReader(ctx, t, "map", "words", ...) builds the reader
// from the committed map outputs.
func Example() {
	split, _ := shuffle.Range([][]byte{[]byte("m")}) // [..m) and [m..)
	data := bytesFetcher{}
	var outs []shuffle.MapOutput
	for p, words := range [][]string{{"pear", "apple", "kiwi"}, {"fig", "apple", "plum"}} {
		w, _ := shuffle.NewWriter(shuffle.Options{Partitioner: split, Sort: true, Codec: shuffle.Zstd})
		for _, word := range words {
			w.Add([]byte(word), []byte{byte(p)})
		}
		var buf bytes.Buffer
		idx, _ := w.Finish(&buf)
		data[p] = buf.Bytes()
		outs = append(outs, shuffle.MapOutput{Stage: "map", Partition: p, Index: idx})
	}
	r := shuffle.NewReader(data, outs, 0, shuffle.ReadOptions{})
	r.Groups(context.Background(), func(key []byte, values [][]byte) error {
		fmt.Printf("%s %v\n", key, values)
		return nil
	})
	// Output:
	// apple [[0] [1]]
	// fig [[1]]
	// kiwi [[0]]
}
