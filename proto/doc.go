// Package czpb is the generated Go code of cz.proto: the cluster's gRPC
// API (the Client and Executor services). Edit cz.proto and run
// `make proto`; never edit the generated files.
package czpb
