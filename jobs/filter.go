package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/celebrity-zones/cz/contracts"
)

// Filter is the candidate filtering of the seed ("views, likes, shares or
// metadata"), as configurable rules. A video is a candidate when it meets
// every minimum and every metadata predicate; it is then placed in the
// first tier whose minimum views it reaches (the seed's ">100 and >1000
// views" batches), and candidates are processed tier by tier.
type Filter struct {
	MinViews  int64 `json:"min_views"`
	MinLikes  int64 `json:"min_likes"`
	MinShares int64 `json:"min_shares"`
	// Languages, when not empty, keeps only videos in these languages.
	Languages []string `json:"languages,omitempty"`
	// ExcludeTags drops videos carrying any of these tags.
	ExcludeTags []string `json:"exclude_tags,omitempty"`
	// MaxDurationSeconds drops longer videos (0: no limit).
	MaxDurationSeconds float64 `json:"max_duration_seconds,omitempty"`
	// Tiers, from the highest minimum down.
	Tiers []Tier `json:"tiers,omitempty"`
}

// Tier is a named band of views.
type Tier struct {
	Name     string `json:"name"`
	MinViews int64  `json:"min_views"`
}

// DefaultFilter keeps videos with at least 100 views, in two tiers.
func DefaultFilter() Filter {
	return Filter{MinViews: 100, Tiers: []Tier{{Name: "over-1000-views", MinViews: 1000}, {Name: "over-100-views", MinViews: 100}}}
}

// ParseFilter reads a filter from JSON, rejecting unknown fields; name is
// used in errors.
func ParseFilter(name string, data []byte) (Filter, error) {
	var f Filter
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Filter{}, fmt.Errorf("filter %s: %w", name, err)
	}
	if err := f.Validate(); err != nil {
		return Filter{}, fmt.Errorf("filter %s: %w", name, err)
	}
	return f, nil
}

// Validate checks the rules and orders the tiers.
func (f *Filter) Validate() error {
	for _, m := range []struct {
		field string
		v     int64
	}{{"min_views", f.MinViews}, {"min_likes", f.MinLikes}, {"min_shares", f.MinShares}} {
		if m.v < 0 {
			return fmt.Errorf("%s is %d; expected a count >= 0", m.field, m.v)
		}
	}
	if f.MaxDurationSeconds < 0 {
		return fmt.Errorf("max_duration_seconds is %v; expected >= 0", f.MaxDurationSeconds)
	}
	seen := map[string]bool{}
	for i, t := range f.Tiers {
		if t.Name == "" || seen[t.Name] {
			return fmt.Errorf("tiers[%d].name %q: expected a unique, non-empty name", i, t.Name)
		}
		seen[t.Name] = true
	}
	sort.SliceStable(f.Tiers, func(i, j int) bool { return f.Tiers[i].MinViews > f.Tiers[j].MinViews })
	return nil
}

// Candidate is a video that passed the filter.
type Candidate struct {
	contracts.ContentMetadata
	Tier string `json:"tier,omitempty"`
}

// Rejection says why a video is not a candidate.
type Rejection struct {
	ContentUUID string `json:"content_uuid"`
	Reason      string `json:"reason"`
}

// Apply splits videos into candidates (highest tier first, then by
// content id, so the order is stable) and rejections.
func (f Filter) Apply(rows []contracts.ContentMetadata) ([]Candidate, []Rejection) {
	var cands []Candidate
	var rej []Rejection
	for _, r := range rows {
		if why := f.reject(r); why != "" {
			rej = append(rej, Rejection{r.ContentUUID, why})
			continue
		}
		c := Candidate{ContentMetadata: r}
		for _, t := range f.Tiers {
			if r.Views >= t.MinViews {
				c.Tier = t.Name
				break
			}
		}
		cands = append(cands, c)
	}
	rank := func(tier string) int {
		for i, t := range f.Tiers {
			if t.Name == tier {
				return i
			}
		}
		return len(f.Tiers)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if ri, rj := rank(cands[i].Tier), rank(cands[j].Tier); ri != rj {
			return ri < rj
		}
		return cands[i].ContentUUID < cands[j].ContentUUID
	})
	return cands, rej
}

func (f Filter) reject(r contracts.ContentMetadata) string {
	switch {
	case r.Views < f.MinViews:
		return fmt.Sprintf("views %d < %d", r.Views, f.MinViews)
	case r.Likes < f.MinLikes:
		return fmt.Sprintf("likes %d < %d", r.Likes, f.MinLikes)
	case r.Shares < f.MinShares:
		return fmt.Sprintf("shares %d < %d", r.Shares, f.MinShares)
	case len(f.Languages) > 0 && !slices.Contains(f.Languages, r.Language):
		return fmt.Sprintf("language %q not in %v", r.Language, f.Languages)
	case f.MaxDurationSeconds > 0 && r.DurationSeconds > f.MaxDurationSeconds:
		return fmt.Sprintf("duration %.0fs > %.0fs", r.DurationSeconds, f.MaxDurationSeconds)
	}
	for _, t := range r.Tags {
		if slices.Contains(f.ExcludeTags, t) {
			return fmt.Sprintf("tag %q is excluded", t)
		}
	}
	return ""
}

// Balance splits candidates into at most n groups of similar cost (the
// longest-processing-time rule: each video, longest first, goes to the
// lightest group). Cost is the video's duration, or its size when the
// duration is unknown, plus a fixed start-up cost per video.
func Balance(cands []Candidate, n int) [][]Candidate {
	if n < 1 {
		n = 1
	}
	n = min(n, max(1, len(cands)))
	cost := func(c Candidate) float64 {
		d := c.DurationSeconds
		if d == 0 {
			d = float64(c.SizeBytes) / 250_000 // ~2 Mbit/s
		}
		return d + 1
	}
	order := slices.Clone(cands)
	sort.SliceStable(order, func(i, j int) bool { return cost(order[i]) > cost(order[j]) })
	groups := make([][]Candidate, n)
	load := make([]float64, n)
	for _, c := range order {
		g := 0
		for i := range load {
			if load[i] < load[g] {
				g = i
			}
		}
		groups[g] = append(groups[g], c)
		load[g] += cost(c)
	}
	for _, g := range groups {
		sort.SliceStable(g, func(i, j int) bool { return g[i].ContentUUID < g[j].ContentUUID })
	}
	return groups
}
