package annbench

import (
	"github.com/celebrity-zones/cz/ann"
)

// RecallAtK is the share of the exact top k found in the approximate top k.
func RecallAtK(exact, got [][]ann.Hit, k int) float64 {
	var found, total int
	for i := range exact {
		want := map[uint64]bool{}
		for _, h := range exact[i][:min(k, len(exact[i]))] {
			want[h.ID] = true
		}
		total += len(want)
		for _, h := range got[i][:min(k, len(got[i]))] {
			if want[h.ID] {
				found++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(found) / float64(total)
}

// IdentityRecall is the share of the query's same-identity items within
// the exact top k that the approximate top k found (queries of seen
// identities only). identity(id) gives an item's identity.
func IdentityRecall(exact, got [][]ann.Hit, k int, queryIdentity []int, identity func(id uint64) int) float64 {
	var found, total int
	for i := range exact {
		who := queryIdentity[i]
		if who < 0 {
			continue
		}
		want := map[uint64]bool{}
		for _, h := range exact[i][:min(k, len(exact[i]))] {
			if identity(h.ID) == who {
				want[h.ID] = true
			}
		}
		total += len(want)
		for _, h := range got[i][:min(k, len(got[i]))] {
			if want[h.ID] {
				found++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(found) / float64(total)
}
