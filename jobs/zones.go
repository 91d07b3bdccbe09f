package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/celebrity-zones/cz/contracts"
	"github.com/celebrity-zones/cz/layout"
	"github.com/celebrity-zones/cz/store"
)

// loadZones reads the zone registry (every zone of the ground truth); an
// absent registry is empty.
func loadZones(ctx context.Context, internal store.Bucket) (map[string]contracts.Zone, error) {
	data, err := store.ReadAll(ctx, internal, layout.ZoneRegistry)
	if errors.Is(err, store.ErrNotExist) {
		return map[string]contracts.Zone{}, nil
	}
	if err != nil {
		return nil, err
	}
	var list []contracts.Zone
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", store.Join(internal.URL(), layout.ZoneRegistry), err)
	}
	zones := map[string]contracts.Zone{}
	for _, z := range list {
		zones[z.ID] = z
	}
	return zones, nil
}

// saveZones writes the registry, sorted by zone id.
func saveZones(ctx context.Context, internal store.Bucket, zones map[string]contracts.Zone) error {
	list := make([]contracts.Zone, 0, len(zones))
	for _, z := range zones {
		list = append(list, z)
	}
	slices.SortFunc(list, func(a, b contracts.Zone) int { return cmp.Compare(a.ID, b.ID) })
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return store.PutBytes(ctx, internal, layout.ZoneRegistry, data)
}
