package executor

// Crash stops the executor as if its process were killed: no drain, no
// leave, no more heartbeats.
func (x *Executor) Crash() { close(x.crashCh) }
