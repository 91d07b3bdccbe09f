package shuffle

import (
	"encoding/json"
	"fmt"
)

// IndexVersion is the version of the index format this package writes.
const IndexVersion = 1

// Index describes one map output: where each reducer's segment lies in
// the data and where the data can be fetched. It is small JSON.
type Index struct {
	Version int    `json:"version"`
	Codec   string `json:"codec"`
	Sorted  bool   `json:"sorted"`
	// Offsets has one entry per reducer plus the end: segment r is
	// [Offsets[r], Offsets[r+1]) of the data.
	Offsets []int64 `json:"offsets"`
	// Records counts each segment's records.
	Records []int64 `json:"records"`
	// MapPartitions is the number of tasks of the map stage (0: unknown).
	MapPartitions int `json:"map_partitions,omitempty"`
	// Data is the engine output name of the data in the object store
	// (durable placement), or "".
	Data string `json:"data,omitempty"`
	// Server is the address of the BlockServer holding the data (served
	// placement), and Block its id there, or "".
	Server string `json:"server,omitempty"`
	Block  string `json:"block,omitempty"`
}

// Partitions is the number of reducers the output was written for.
func (x *Index) Partitions() int { return len(x.Records) }

// Segment returns reducer r's byte range of the data.
func (x *Index) Segment(r int) (off, length int64) {
	return x.Offsets[r], x.Offsets[r+1] - x.Offsets[r]
}

// Validate checks an index read back; source names it in errors.
func (x *Index) Validate(source string) error {
	if x.Version != IndexVersion {
		return fmt.Errorf("%s: index version %d, want %d", source, x.Version, IndexVersion)
	}
	if _, err := ParseCodec(x.Codec); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if len(x.Offsets) != len(x.Records)+1 || len(x.Records) == 0 {
		return fmt.Errorf("%s: %d offsets for %d segments, want one more", source, len(x.Offsets), len(x.Records))
	}
	for r := 0; r < len(x.Records); r++ {
		if x.Offsets[r] < 0 || x.Offsets[r+1] < x.Offsets[r] {
			return fmt.Errorf("%s: offsets[%d..%d] = %d..%d are not increasing", source, r, r+1, x.Offsets[r], x.Offsets[r+1])
		}
	}
	if x.Data == "" && x.Server == "" {
		return fmt.Errorf("%s: neither data nor server is set", source)
	}
	return nil
}

func (x *Index) marshal() []byte {
	data, err := json.Marshal(x)
	if err != nil {
		panic(err) // plain data cannot fail
	}
	return data
}

func parseIndex(source string, data []byte) (*Index, error) {
	var x Index
	if err := json.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if err := x.Validate(source); err != nil {
		return nil, err
	}
	return &x, nil
}
