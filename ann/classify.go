package ann

// ClassifyRule decides when the nearest ground-truth faces name a zone.
//
// The rule, with d(h) the distance of hit h (same convention as Search):
//  1. Take the K nearest items (filtered by zones, if given) with
//     distance <= MaxDistance. None: no zone.
//  2. The candidate zone is the label of the nearest one, at distance d1.
//  3. The runner-up is the nearest hit among them with another label, at
//     distance d2. If there is one, require d2 - d1 >= Margin: a face that
//     is about as near to two zones is not classified.
//  4. Require at least MinVotes of the K hits to carry the candidate zone.
//
// With dlib's 128-d embeddings and the Euclidean metric, MaxDistance 0.6
// is dlib's "same person" threshold.
type ClassifyRule struct {
	MaxDistance float32
	Margin      float32
	K           int      // neighbours considered (default 10)
	MinVotes    int      // hits of the winning zone required (default 1)
	Zones       []string // only these zones compete (nil: all)
}

// Classification is the outcome of Classify.
type Classification struct {
	Zone     string
	Distance float32 // d1
	Votes    int     // hits within MaxDistance labelled Zone
	RunnerUp string  // nearest other zone within MaxDistance ("" if none)
	// RunnerUpDistance is d2 (0 if there is no runner-up).
	RunnerUpDistance float32
	Hits             []Hit // the hits within MaxDistance, nearest first
}

// Classify applies rule to the nearest items of q. It returns the
// classification and whether the rule accepted it; when rejected, the
// classification still describes what was found (empty Zone if nothing
// was within MaxDistance).
func (x *Index) Classify(q []float32, rule ClassifyRule) (Classification, bool) {
	k := rule.K
	if k <= 0 {
		k = 10
	}
	var opts []SearchOption
	if rule.Zones != nil {
		opts = append(opts, InZones(rule.Zones...))
	}
	hits := x.Search(q, k, opts...)
	return classifyHits(hits, rule)
}

func classifyHits(hits []Hit, rule ClassifyRule) (Classification, bool) {
	var c Classification
	for _, h := range hits {
		if h.Distance <= rule.MaxDistance {
			c.Hits = append(c.Hits, h)
		}
	}
	if len(c.Hits) == 0 {
		return c, false
	}
	c.Zone, c.Distance = c.Hits[0].Label, c.Hits[0].Distance
	for _, h := range c.Hits {
		if h.Label == c.Zone {
			c.Votes++
		} else if c.RunnerUp == "" {
			c.RunnerUp, c.RunnerUpDistance = h.Label, h.Distance
		}
	}
	if c.RunnerUp != "" && c.RunnerUpDistance-c.Distance < rule.Margin {
		return c, false
	}
	return c, c.Votes >= max(1, rule.MinVotes)
}
