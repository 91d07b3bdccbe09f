// Package engine owns the job model of cz: job specs (a DAG of stages),
// tasks and their attempts with ordered states, the replicated state
// machine (FSM) that records them, the scheduler that plans assignments
// over a snapshot of that state, the commit registry that lets exactly one
// attempt per partition publish its output, and the Engine loop that ties
// them to executors. It never imports the code that defines jobs (package
// jobs registers operators here by name) and never reaches the network.
//
// # Operators
//
// A stage runs an Operator registered with Register. It gets a *Task: its
// partition of the stage, the job's and stage's params, the committed
// outputs of the upstream stages (Inputs, InputsOf, ReadInput), an
// attempt-scoped writer (Put, Output), the bucket for side effects written
// to deterministic keys (idempotent overwrites: an attempt may run more
// than once), a logger whose last lines show on the status page, and
// counters. It returns nil, an error (retried up to the job's MaxAttempts)
// or Fatal(err) (the job fails at once). An error wrapping
// LostInput(stage, partition, err) says an upstream task's committed
// output is gone (a served shuffle block): the report carries it, and
// applying it re-opens only that upstream task, the one backward state
// move (CanReopen, recorded by an event marked Reopened), while this task
// waits for it to commit again; such failures do not count against
// MaxAttempts, but an output lost more than MaxAttempts times fails the
// job.
//
// # Exactly-once output
//
// Attempts write under jobs/<job>/<stage>/attempts/p<partition>-a<attempt>/.
// The commit registry (in the FSM) accepts one attempt per task; repeats
// are idempotent, superseded attempts are refused, and a grant held by an
// attempt that dies passes on. When every task is committed the engine
// writes each stage's manifest and then the job manifest
// (jobs/<job>/manifest.json): outputs are visible only through it
// (ReadJobOutputs). Sweep deletes unreferenced attempt objects and aborts
// open multipart uploads. Each job's events go to jobs/<job>/events/ as
// chunks of JSON lines (a new leader re-writes its replica's recent events,
// WriteEventTail, so chunks may overlap); ReadEventLog returns each event
// once, in index order, and ReplayJob rebuilds the job from them.
//
// # Replication
//
// The FSM is a plain struct driven by Apply(index, command), a command
// being a type byte and a JSON body; every object records the index that
// last changed it. It reads no clock (times travel in commands), so every
// replica applying the same log reaches the same state. In one process
// LocalLog numbers the commands; under hashicorp/raft the FSM adapter
// calls Apply(log.Index, log.Data), Snapshot encodes the state and
// Restore reads it, and the Engine (leader-only machinery: Run) is given
// a Log that proposes through raft.Apply and returns the *Result from the
// future. CmdBatch and CmdReports carry many changes per entry.
//
// # Retention
//
// The state holds finished jobs only for a while (Config.Retention: by
// default the newest 2000, none older than 7 days). The leader archives
// a finished job's record to jobs/<job>/record.json and forgets it
// (CmdForgetJobs, never a running job); Lookup, Wait, the coordinator's
// GetJob and the status page read forgotten jobs back from the store.
// Idempotency keys outlive their jobs by Retention.MaxAge.
package engine
