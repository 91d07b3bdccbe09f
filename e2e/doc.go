// Package e2e runs the whole system under faults and checks the ledger:
// every candidate processed exactly once, one visible output per
// partition, complete metadata, nothing orphaned, and the same predicted
// data as a run without faults. It holds the harness pieces (a
// fault-injecting S3 proxy, the ledger check) and the scenarios as tests.
// A short deterministic subset runs in `make test`; `make e2e` runs the
// long ones (CZ_E2E_LONG=1).
package e2e
