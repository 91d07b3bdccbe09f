// Package e2e runs the whole system under faults, bad input and load and
// checks that nothing was lost or duplicated.
//
// The harness (System) starts real processes on loopback: three `cz
// coordinator` members, whose Raft links pass through a Partition proxy
// that can cut a member off by its source address, two or three `cz
// executor` processes (with fault injection through CZ_FAULTS and commit
// recording through CZ_COMMIT_HISTORY), beside versitygw and the chat and
// mail sinks started by the test. The data is a deterministic sample with
// a known answer.
//
// After each scenario the ledger (Check, CheckCommits) holds the run to
// account: every candidate processed exactly once with complete metadata,
// one committed attempt and one visible output per partition, no attempt
// objects or multipart uploads left behind, the same predicted data as a
// run without faults, and a commit-registry history that porcupine finds
// linearizable. A short deterministic subset runs in `make test`; `make
// e2e` runs everything (CZ_E2E_LONG=1).
package e2e
