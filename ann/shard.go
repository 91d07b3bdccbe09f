package ann

import "fmt"

// ShardBy says how Split assigns items to shards.
type ShardBy int

const (
	// ByID spreads items by a hash of their ID.
	ByID ShardBy = iota
	// ByPartition keeps each k-means partition whole (partition p goes to
	// shard p mod n), so a shard scans whole partitions; exact indexes
	// fall back to ByID.
	ByPartition
)

// Split builds the index if needed and splits it into n shards that
// share its trained model. Each shard is searched independently with
// Candidates; Merge of the shards' candidates equals the unsharded
// Search. Shards never retrain (that would break the equality); items
// added to a shard are encoded with the shared model.
func (x *Index) Split(n int, by ShardBy) ([]*Index, error) {
	if n < 1 {
		return nil, fmt.Errorf("ann: split into %d shards", n)
	}
	x.Build()
	x.mu.RLock()
	defer x.mu.RUnlock()
	shards := make([]*Index, n)
	for i := range shards {
		s := New(x.dim, x.metric)
		s.cfg = x.cfg
		s.frozen = true
		s.trained = x.trained
		if x.ivf != nil {
			s.ivf = x.ivf.emptyCopy()
		}
		shards[i] = s
	}
	if x.ivf == nil {
		for slot := range int32(len(x.ids)) {
			if !x.deleted[slot] {
				sh := shards[hashID(x.ids[slot])%uint64(n)]
				sh.addSlot(x.ids[slot], x.labelNames[x.labels[slot]], x.vec(slot), false)
			}
		}
		return shards, nil
	}
	code := make([]uint8, x.ivf.m)
	for p := range x.ivf.lists {
		for j, slot := range x.ivf.lists[p].slots {
			if x.deleted[slot] {
				continue
			}
			var sh *Index
			if by == ByPartition {
				sh = shards[p%n]
			} else {
				sh = shards[hashID(x.ids[slot])%uint64(n)]
			}
			x.ivf.codeAt(p, j, code)
			sh.addCoded(x.ids[slot], x.labelNames[x.labels[slot]], x.vec(slot), p, code)
		}
	}
	return shards, nil
}

// addCoded adds an item whose partition and codes are already known.
func (x *Index) addCoded(id uint64, label string, v []float32, p int, code []uint8) {
	keep := x.ivf
	x.ivf = nil // addSlot must not encode
	slot := x.addSlot(id, label, v, false)
	x.ivf = keep
	x.ivf.appendCode(p, slot, code)
}

func (v *ivf) emptyCopy() *ivf {
	c := *v
	c.lists = make([]plist, v.nlist)
	return &c
}

// hashID is splitmix64's finaliser: a well-spread hash of an id.
func hashID(id uint64) uint64 {
	id += 0x9e3779b97f4a7c15
	id = (id ^ id>>30) * 0xbf58476d1ce4e5b9
	id = (id ^ id>>27) * 0x94d049bb133111eb
	return id ^ id>>31
}
