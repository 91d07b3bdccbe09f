package trigger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// ValidateUpload checks a batch's zone list and ground-truth images in the
// external bucket (contracts.ParseZoneList, contracts.ValidateGroundTruth)
// and returns every problem found, each naming its file, line and field.
// It does not look for faces: that needs the models, and the Batch
// Runner's first stage does it (and reports the same way). An error means
// the bucket could not be read, not that the upload is bad.
func ValidateUpload(ctx context.Context, ext store.Bucket, batch layout.Batch) ([]string, error) {
	listKey := layout.ZoneList(batch)
	data, err := store.ReadAll(ctx, ext, listKey)
	if errors.Is(err, store.ErrNotExist) {
		return []string{store.Join(ext.URL(), listKey) + ": the zone list is missing (deleted after the upload?)"}, nil
	}
	if err != nil {
		return nil, err
	}
	zones, err := contracts.ParseZoneList(store.Join(ext.URL(), listKey), bytes.NewReader(data))
	if err != nil {
		return problemList(err), nil
	}
	prefix := layout.GroundTruthImages(batch)
	list, err := ext.List(ctx, prefix, "")
	if err != nil {
		return nil, err
	}
	files := make([]contracts.GroundTruthFile, 0, len(list.Objects))
	for _, o := range list.Objects {
		key := o.Key
		files = append(files, contracts.GroundTruthFile{Key: store.Join(ext.URL(), key), Rel: strings.TrimPrefix(key, prefix), Size: o.Size,
			Open: func() (io.ReadCloser, error) { return ext.Get(ctx, key) }})
	}
	if len(files) == 0 {
		return []string{fmt.Sprintf("%s: no ground-truth images; expected {zone-id}/{image} for each of the %d zones of %s",
			store.Join(ext.URL(), prefix), len(zones), listKey)}, nil
	}
	return problemList(contracts.ValidateGroundTruth(zones, files)), nil
}

func problemList(err error) []string {
	var ps contracts.Problems
	if errors.As(err, &ps) {
		if len(ps) == 0 {
			return nil
		}
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []string{err.Error()}
}
