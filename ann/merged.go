package ann

// ClassifyHits applies rule to hits found elsewhere: merged from the
// shards of an index (Merge) by tasks that searched them separately. It
// gives what Classify on the unsharded index gives for the same hits.
func ClassifyHits(hits []Hit, rule ClassifyRule) (Classification, bool) {
	return classifyHits(hits, rule)
}
