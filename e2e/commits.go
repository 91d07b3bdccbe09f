package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/executor"
	"github.com/celebrity-zones/cz/store"
)

// The commit registry's history, checked for linearizability.
//
// The registry (engine's authorize) keeps, per task, which attempt holds
// the commit grant, which attempt committed, and which attempts are dead.
// Its history has four kinds of operations on one task:
//
//	authorize(a) -> granted | denied | unknown
//	    an executor's AuthorizeCommit call, timed by the executor around
//	    the gRPC call (CZ_COMMIT_HISTORY); an errored or unfinished call
//	    has an unknown outcome and, as porcupine wants, returns at the end
//	    of the history
//	release(a)  attempt a died (failed, lost, cancelled)
//	commit(a)   attempt a's outputs became the task's output
//	reopen(a)   the committed output of a was lost; the task runs again
//
// The last three are the registry's own changes, from the jobs' event
// logs and final states. Their time is stamped when the command is made
// (a report's when its attempt ended on the executor, a lost executor's
// when the leader wrote it off) and the command is applied later, after
// the report's trip to the leader (longer across a leader change): they
// get the window [time-registryBefore, time+registryAfter].
//
// The model's state is (holder, committed, dead attempts):
//
//	authorize(a) granted  legal iff committed == a, or committed == 0 and
//	                      a is not dead and holder is 0 or a; then holder = a
//	authorize(a) denied   legal iff it would not be granted; no change
//	authorize(a) unknown  either of the above
//	release(a)            always legal; holder = 0 if holder == a and nothing
//	                      committed; a is dead
//	commit(a)             legal iff nothing committed, a is not dead and
//	                      holder is 0 or a; then committed = holder = a
//	reopen(a)             legal iff committed == a; then committed = holder
//	                      = 0 and a is dead
//
// So a history is illegal when, for instance, two attempts were granted
// at once without a release between, an attempt was denied while nobody
// held the grant, or an attempt committed while another held it.
const (
	registryBefore = 100 * time.Millisecond
	registryAfter  = 10 * time.Second
)

type commitKind int

const (
	opAuthorize commitKind = iota
	opRelease
	opCommit
	opReopen
)

// commitInput is one operation on the commit registry of one task.
type commitInput struct {
	Task    string // job/stage/pN
	Kind    commitKind
	Attempt int
	Why     string // release: the attempt's end; authorize: the executor
}

// commitOutput is an authorize call's answer.
type commitOutput struct {
	Granted bool
	Unknown bool // the call failed or never returned: it may have taken effect
}

// registryState is the model's state of one task: Dead is the sorted
// list of dead attempts, as text so that states compare with ==.
type registryState struct {
	Holder, Committed int
	Dead              string
}

func (s registryState) dead(a int) bool {
	return slices.Contains(strings.Split(s.Dead, ","), strconv.Itoa(a))
}

func (s registryState) kill(a int) registryState {
	if s.dead(a) {
		return s
	}
	var nums []int
	for _, f := range strings.Split(s.Dead, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			nums = append(nums, n)
		}
	}
	nums = append(nums, a)
	slices.Sort(nums)
	var parts []string
	for _, n := range nums {
		parts = append(parts, strconv.Itoa(n))
	}
	s.Dead = strings.Join(parts, ",")
	return s
}

// registryStep returns the states the registry may be in after op, none
// when op cannot happen in state s.
func registryStep(s registryState, in commitInput, out commitOutput) []registryState {
	a := in.Attempt
	switch in.Kind {
	case opAuthorize:
		grant := s.Committed == a || s.Committed == 0 && !s.dead(a) && (s.Holder == 0 || s.Holder == a)
		next := s
		if grant && s.Committed == 0 {
			next.Holder = a
		}
		switch {
		case out.Unknown && grant:
			return []registryState{s, next}
		case out.Unknown, !out.Granted && !grant:
			return []registryState{s}
		case out.Granted && grant:
			return []registryState{next}
		}
		return nil
	case opRelease:
		next := s.kill(a)
		if s.Holder == a && s.Committed == 0 {
			next.Holder = 0
		}
		return []registryState{next}
	case opCommit:
		if s.Committed != 0 || s.dead(a) || s.Holder != 0 && s.Holder != a {
			return nil
		}
		s.Committed, s.Holder = a, a
		return []registryState{s}
	case opReopen:
		if s.Committed != a {
			return nil
		}
		s.Committed, s.Holder = 0, 0
		return []registryState{s.kill(a)}
	}
	return nil
}

// registryModel is the model, partitioned by task.
var registryModel = (&porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byTask := map[string][]porcupine.Operation{}
		var tasks []string
		for _, op := range history {
			k := op.Input.(commitInput).Task
			if byTask[k] == nil {
				tasks = append(tasks, k)
			}
			byTask[k] = append(byTask[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(tasks))
		for _, k := range tasks {
			out = append(out, byTask[k])
		}
		return out
	},
	Init: func() []any { return []any{registryState{}} },
	Step: func(state, input, output any) []any {
		var out commitOutput
		if output != nil {
			out = output.(commitOutput)
		}
		var next []any
		for _, s := range registryStep(state.(registryState), input.(commitInput), out) {
			next = append(next, s)
		}
		return next
	},
	DescribeOperation: func(input, output any) string {
		in := input.(commitInput)
		switch in.Kind {
		case opAuthorize:
			out := output.(commitOutput)
			answer := "denied"
			switch {
			case out.Unknown:
				answer = "unknown"
			case out.Granted:
				answer = "granted"
			}
			return fmt.Sprintf("authorize(a%d) -> %s [%s]", in.Attempt, answer, in.Why)
		case opRelease:
			return fmt.Sprintf("release(a%d) [%s]", in.Attempt, in.Why)
		case opCommit:
			return fmt.Sprintf("commit(a%d)", in.Attempt)
		default:
			return fmt.Sprintf("reopen(a%d)", in.Attempt)
		}
	},
	DescribeState: func(state any) string {
		s := state.(registryState)
		return fmt.Sprintf("holder a%d, committed a%d, dead [%s]", s.Holder, s.Committed, s.Dead)
	},
}).ToModel()

// CheckCommits checks that the commit registry's history in the given
// jobs is linearizable: the executors' AuthorizeCommit calls from their
// commit history files (executor.Config.CommitHistory, CZ_COMMIT_HISTORY;
// calls of other jobs are left out) together with the registry's own
// changes from each job's event log in work, and from the job's final
// state where a leader lost before it flushed left the log short. It
// returns an error naming the first task whose history is not
// linearizable and the file of porcupine's visualization.
func CheckCommits(ctx context.Context, work store.Bucket, jobs []*engine.Job, historyFiles []string) error {
	history, err := commitHistory(ctx, work, jobs, historyFiles)
	if err != nil {
		return err
	}
	return checkCommitHistory(history)
}

// commitHistory builds the porcupine history of the jobs' registries.
func commitHistory(ctx context.Context, work store.Bucket, jobs []*engine.Job, historyFiles []string) ([]porcupine.Operation, error) {
	var history []porcupine.Operation
	known := map[string]bool{}
	before, after := registryBefore.Nanoseconds(), registryAfter.Nanoseconds()
	registry := func(task string, kind commitKind, attempt int, why string, at int64) {
		history = append(history, porcupine.Operation{Input: commitInput{Task: task, Kind: kind, Attempt: attempt, Why: why},
			Call: at - before, Return: at + after})
	}
	for _, j := range jobs {
		known[j.ID] = true
		events, err := engine.ReadEventLog(ctx, work, j.ID)
		if err != nil {
			return nil, fmt.Errorf("event log of job %s: %w", j.ID, err)
		}
		type attemptKey struct {
			task    string
			attempt int
		}
		ended := map[attemptKey]bool{}
		reopened := map[string][]int64{} // per task, the times of its re-openings, in order
		for _, e := range events {
			task := taskKey(e.Job, e.Stage, e.Partition)
			switch {
			case e.Kind == engine.KindTask && e.Reopened:
				reopened[task] = append(reopened[task], e.Time.UnixNano())
			case e.Kind == engine.KindAttempt:
				var s engine.AttemptState
				if err := s.UnmarshalText([]byte(e.State)); err != nil || !s.Terminal() {
					continue
				}
				ended[attemptKey{task, e.Attempt}] = true
				registryEnd(registry, task, e.Attempt, s, e.Error, e.Time.UnixNano())
			}
		}
		for _, st := range j.Stages {
			for _, t := range st.Tasks {
				task := taskKey(j.ID, st.Name, t.Partition)
				var commits []*engine.Attempt
				for _, a := range t.Attempts {
					if a.State == engine.AttemptCommitted {
						commits = append(commits, a)
					}
					if a.State.Terminal() && !ended[attemptKey{task, a.Num}] && !a.Finished.IsZero() {
						registryEnd(registry, task, a.Num, a.State, a.Error, a.Finished.UnixNano())
					}
				}
				// Every commit but the task's last standing one was re-opened.
				slices.SortFunc(commits, func(a, b *engine.Attempt) int { return a.Finished.Compare(b.Finished) })
				for i, a := range commits {
					if a.Num == t.Committed && i == len(commits)-1 {
						break
					}
					op := porcupine.Operation{Input: commitInput{Task: task, Kind: opReopen, Attempt: a.Num},
						Call: a.Finished.UnixNano() - before, Return: math.MaxInt64}
					if i+1 < len(commits) {
						op.Return = commits[i+1].Finished.UnixNano() + after
					}
					if i < len(reopened[task]) {
						op.Call, op.Return = reopened[task][i]-before, reopened[task][i]+after
					}
					history = append(history, op)
				}
			}
		}
	}
	var pending []int
	for _, path := range historyFiles {
		calls, err := executor.ReadCommitHistory(path)
		if err != nil {
			return nil, err
		}
		for _, c := range calls {
			if !known[c.Attempt.Job] {
				continue
			}
			op := porcupine.Operation{ClientId: c.Attempt.Attempt,
				Input: commitInput{Task: taskKey(c.Attempt.Job, c.Attempt.Stage, c.Attempt.Partition), Kind: opAuthorize,
					Attempt: c.Attempt.Attempt, Why: c.Executor},
				Call: c.Call, Return: c.Return, Output: commitOutput{Granted: c.Granted, Unknown: !c.Done || c.Error != ""}}
			if op.Output.(commitOutput).Unknown {
				pending = append(pending, len(history))
			}
			history = append(history, op)
		}
	}
	// Unknown outcomes return after everything else; so do open windows.
	end := int64(0)
	for _, op := range history {
		end = max(end, op.Call)
		if op.Return != math.MaxInt64 {
			end = max(end, op.Return)
		}
	}
	for i := range history {
		if history[i].Return == math.MaxInt64 {
			history[i].Return = end + 1
		}
	}
	for _, i := range pending {
		history[i].Return = end + 1
	}
	return history, nil
}

// registryEnd adds the registry operation of an attempt's end.
func registryEnd(add func(string, commitKind, int, string, int64), task string, attempt int, s engine.AttemptState, why string, at int64) {
	if s == engine.AttemptCommitted {
		add(task, opCommit, attempt, "", at)
		return
	}
	if why == "" {
		why = s.String()
	} else {
		why = s.String() + ": " + why
	}
	add(task, opRelease, attempt, why, at)
}

func taskKey(job, stage string, partition int) string {
	return fmt.Sprintf("%s/%s/p%d", job, stage, partition)
}

// checkCommitHistory checks a history against registryModel.
func checkCommitHistory(history []porcupine.Operation) error {
	res, info := porcupine.CheckOperationsVerbose(registryModel, history, time.Minute)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("commit history (%d operations): the linearizability check timed out", len(history))
	}
	// Name the tasks that fail on their own.
	var bad []string
	for _, part := range registryModel.Partition(history) {
		if porcupine.CheckOperationsTimeout(registryModel, part, 10*time.Second) != porcupine.Ok {
			bad = append(bad, part[0].Input.(commitInput).Task)
		}
	}
	where := "(could not write the visualization)"
	if f, err := os.CreateTemp("", "cz-commits-*.html"); err == nil {
		f.Close()
		if porcupine.VisualizePath(registryModel, info, f.Name()) == nil {
			where = "visualization: " + f.Name()
		}
	}
	return fmt.Errorf("the commit registry's history is not linearizable for task(s) %s; %s", strings.Join(bad, ", "), where)
}
