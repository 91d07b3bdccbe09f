// Package shuffle owns the exchange of partitioned records between two
// stages: the map side partitions key/value records (by hash or by range)
// into one segment per reducer, optionally sorted, compressed and always
// checksummed, spilling to local disk beyond a memory budget; the reduce
// side fetches its segment from every committed map output, in parallel
// with bounded concurrency, retries and backpressure, and merges them by
// sorted k-way merge or hash aggregation.
//
// A map output is two engine outputs of the map attempt: "<name>.data",
// the segments of reducers 0..R-1 back to back, each a sequence of blocks
// (see block.go for the format), and "<name>.index", a small JSON object
// with the segment offsets and where the data lies. Because both are
// attempt-scoped outputs, a reducer that finds them through t.Inputs sees
// only committed map attempts: a map task that ran twice contributes its
// records once.
//
// Placements of the data (Placement; WriteTask takes one):
//
//   - Durable: the data is written to the object store (t.Output). A lost
//     executor costs no recompute.
//   - Served: the data stays on the map executor's local disk (LocalBlocks,
//     named by SetExecutorBlocks) and reducers fetch it from that
//     executor's BlockServer: in process (RegisterServer), over HTTP on
//     loopback (HTTPHandler), or over the executor gRPC service. Only the
//     index goes to the store. When the data is gone the reader returns a
//     *LostOutputError naming the one map task to re-run (Lost), wrapped
//     in engine.LostInput: the engine re-opens only that map task, then
//     runs the reduce task again, without counting a failure.
//   - ServedDurable: served, plus a copy in the store that reducers fall
//     back to when the executor is gone.
//   - Auto: ServedDurable on spot executors, Served on others, Durable
//     where the process serves no blocks.
//
// The gRPC fetch (the executor service's "fetch shuffle blocks" stream) is
// a thin adapter: the server side calls LocalBlocks.OpenSegment(block,
// reduce) and streams the bytes in chunks; the client side is a
// BlockServer whose OpenSegment returns a ReadCloser over the stream,
// registered with RegisterDialer("grpc", ...) so that indexes whose server
// is "grpc://host:port" are fetched through it. Errors that mean "no such
// block" must wrap ErrBlockNotFound.
package shuffle
