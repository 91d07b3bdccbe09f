// Package jobs holds the two runners of the Celebrity Zones pipeline as
// DAGs of operators on the engine: the Daily Runner (candidates from a
// day's content metadata, filtered, through the face pipeline and the
// latest index, to every output of the seed) and the New Celebrity Zone
// Batch Runner (validate an upload, embed its ground-truth faces, publish
// a new index version, re-classify the unidentified pool). It also reads
// the QC team's validated data back into metrics.
//
// Operators register with the engine in init; the engine never imports
// this package.
package jobs
